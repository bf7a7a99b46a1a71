"""`xstilts status RUNS_DIR`: where each stage of the recorded plan stands, and where its log is.

States: done (the `done` marker), running (a SLURM job running it, or a process holding the stage's lock),
pending (queued on SLURM, or not started), interrupted (started, not finished: a checkpoint or a stage.json
is there and nothing runs it; `xstilts run` resumes it), failed (a failure record, failed.json, or a SLURM
job that ended without finishing the stage). SLURM jobs come from RUNS_DIR/.slurm/jobs.json, written by
the slurm executor, and their state from squeue (sacct for jobs the controller forgot); without SLURM the
stage directories alone answer. Reads small files only: no model, no torch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from harness.errors import UserError
from harness.layout import CHECKPOINT_DIR, EXPERIMENT_JSON, FAILED, STAGE_JSON, STAGE_LOG
from harness.store import is_done, read_json

STATES = ("done", "running", "pending", "interrupted", "failed")


def recorded_stages(runs_dir: Path) -> list[dict[str, Any]]:
    """The stages of the plan in runs_dir/experiment.json, in plan order, each once."""
    path = runs_dir / EXPERIMENT_JSON
    if not path.exists():
        raise UserError(f"{runs_dir} has no {EXPERIMENT_JSON}: not a runs directory (`xstilts run` writes it)")
    seen: dict[str, dict[str, Any]] = {}
    for entry in read_json(path).get("stages") or []:
        seen.setdefault(entry["key"], entry)
    return list(seen.values())


def locked_inodes() -> set[int] | None:
    """Inodes that hold a lock now (/proc/locks), to see a stage lock held by a running process without
    touching the lock (probing it with flock could make a starting run fail); None off Linux."""
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    inodes = set()
    for line in lines:
        for field in line.split():
            if field.count(":") == 2:
                inodes.add(int(field.rsplit(":", 1)[1]))
    return inodes


def stage_status(runs_dir: Path, entry: dict[str, Any], job: dict[str, Any] | None,
                 queue: dict[str, tuple[str, str]] | None, locks: set[int] | None) -> dict[str, Any]:
    """{key, kind, upstream, state, job_id, detail, log} of one stage."""
    from harness.executors.slurm import LIVE_STATES

    stage_dir = runs_dir / entry["key"]
    own_log = stage_dir / STAGE_LOG
    log = job.get("log") if job else (str(own_log) if own_log.exists() else None)
    row = {"key": entry["key"], "kind": entry.get("kind"), "upstream": entry.get("upstream"), "job_id": None,
           "state": "pending", "detail": "", "log": log}
    slurm_state, reason = "", ""
    if job:
        row["job_id"] = str(job["job_id"])
        slurm_state, reason = (queue or {}).get(row["job_id"], ("", ""))
    if is_done(stage_dir):
        return {**row, "state": "done"}
    if slurm_state in LIVE_STATES:
        running = slurm_state in ("RUNNING", "COMPLETING")
        detail = f"slurm {slurm_state}" + (f" ({reason})" if reason and reason != "None" else "")
        if not running and (stage_dir / CHECKPOINT_DIR).exists():
            detail += "; resumes from its checkpoint"
        return {**row, "state": "running" if running else "pending", "detail": detail}
    failure = stage_dir / FAILED
    if failure.exists():
        try:
            record = read_json(failure)
        except (OSError, ValueError) as exc:
            record = {"error": str(exc)}
        return {**row, "state": "failed", "detail": record.get("error") or "", "log": record.get("log") or log}
    if slurm_state:  # over in SLURM's eyes, and the stage neither done nor recorded as failed
        if reason == "DependencyNeverSatisfied" or slurm_state == "CANCELLED" and "Dependency" in reason:
            return {**row, "detail": f"slurm {slurm_state}: its upstream stage did not finish"}
        return {**row, "state": "failed", "detail": f"slurm job ended {slurm_state} before the stage finished"}
    lock = stage_dir / ".lock"
    if locks is not None and lock.exists() and lock.stat().st_ino in locks:
        return {**row, "state": "running", "detail": "a process holds the stage lock"}
    if (stage_dir / CHECKPOINT_DIR).exists():
        return {**row, "state": "interrupted", "detail": "checkpoint kept; `xstilts run` resumes it"}
    if (stage_dir / STAGE_JSON).exists():
        return {**row, "state": "interrupted", "detail": "started, no checkpoint; `xstilts run` runs it again"}
    return row


def runs_status(runs_dir: Path) -> dict[str, Any]:
    """Every recorded stage's status, and the count per state."""
    from harness.executors.slurm import queue_states, read_jobs

    entries = recorded_stages(runs_dir)
    jobs = read_jobs(runs_dir)
    ids = [str(jobs[e["key"]]["job_id"]) for e in entries if e["key"] in jobs]
    queue = queue_states(ids) if ids else {}
    locks = locked_inodes()
    rows = [stage_status(runs_dir, e, jobs.get(e["key"]), queue, locks) for e in entries]
    counts = {state: sum(r["state"] == state for r in rows) for state in STATES}
    return {"runs_dir": str(runs_dir), "slurm_reachable": queue is not None if ids else None, "counts": counts,
            "stages": rows}


@click.command("status")
@click.argument("runs_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status_command(runs_dir: Path, as_json: bool) -> None:
    """Show each stage of a runs directory: done, running, pending, interrupted or failed, with its log."""
    result = runs_status(runs_dir)
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
        return
    from rich.table import Table

    from harness.cli.console import console

    table = Table(title=f"stages of {runs_dir}")
    for col in ("#", "stage", "kind", "state", "job", "detail", "log"):
        table.add_column(col, overflow="fold")
    colour = {"done": "green", "running": "cyan", "failed": "red", "interrupted": "yellow", "pending": ""}
    for i, row in enumerate(result["stages"], 1):
        state = f"[{colour[row['state']]}]{row['state']}[/]" if colour[row["state"]] else row["state"]
        table.add_row(str(i), row["key"], row["kind"] or "", state, row["job_id"] or "", row["detail"],
                      _short(row["log"]))
    console().print(table)
    counts = ", ".join(f"{n} {state}" for state, n in result["counts"].items() if n)
    click.echo(f"{len(result['stages'])} stages: {counts}")
    if result["slurm_reachable"] is False:
        click.echo("warning: SLURM did not answer (squeue); job states come from the stage directories only",
                   err=True)


def _short(path: str | None) -> str:
    """A log path relative to the working directory when it is under it."""
    if not path:
        return ""
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    except ValueError:
        return path
