"""`xstilts run`: plan, record, execute with progress, summarise."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from harness import registry
from harness.cli.console import console
from harness.errors import UserError
from harness.execute import record_experiment
from harness.experiment import load_experiment
from harness.plan import plan, plan_record
from harness.store import damaged_result, is_done, reopen_damaged


def output_dir(config, output: Path | None) -> Path:
    return Path(output or config.output or Path("runs") / config.name)


def with_overrides(record: dict, overrides: Sequence[str]) -> dict:
    """The plan record with the `--set` overrides beside the experiment (which already has them applied)."""
    return {**record, "overrides": list(overrides)}


def print_plan(stages, runs_dir: Path) -> None:
    from rich.table import Table

    table = Table(title=f"stage plan ({len(stages)} stages) in {runs_dir}")
    for col in ("#", "stage", "kind", "arm", "task", "seed", "upstream", "status"):
        table.add_column(col)
    for i, s in enumerate(stages, 1):
        status = "done" if is_done(runs_dir / s.key) else "todo"
        if status == "done" and damaged_result(runs_dir / s.key):
            status = "redo (result unreadable)"
        task = s.meta.get("task", "+".join(s.meta.get("tasks", [])))
        table.add_row(str(i), s.key, s.kind, s.meta.get("arm", ""), task, str(s.meta.get("seed", "")),
                      s.upstream or "-", status)
    console().print(table)
    print_estimate(stages)


def print_estimate(stages) -> None:
    """GPU-hours per stage kind (assumptions: harness/estimate.py and harness/estimate.yaml)."""
    from rich.table import Table

    from harness.estimate import estimate

    rows = estimate(stages)
    table = Table(title="estimated GPU-hours: examples x epochs / throughput per model size (harness/estimate.yaml)")
    for col in ("stage kind", "stages", "GPU-hours", "note"):
        table.add_column(col)
    for kind, row in rows.items():
        note = "" if row["complete"] else "lower bound: some row counts unknown"
        table.add_row(kind, str(row["stages"]), f"{row['gpu_hours']:.1f}", note)
    total = sum(r["gpu_hours"] for r in rows.values())
    table.add_row("total", str(len(stages)), f"{total:.1f}", "" if all(r["complete"] for r in rows.values()) else
                  "lower bound")
    console().print(table)


def resolve_jobs(jobs: int | None, executor) -> int:
    """`--jobs` as given; by default one stage per visible GPU (at least 1) for an executor that can run
    several at a time, else 1."""
    if jobs is not None:
        return jobs
    if not executor.concurrent():
        return 1
    from harness.executors.devices import default_jobs

    return default_jobs()


def run_experiment(experiment: Path, output: Path | None, dry_run: bool, allow_mixed: bool,
                   overrides: Sequence[str] = (), jobs: int | None = 1) -> dict:
    """Plan, record (runs/experiment.json, with the `--set` overrides applied) and execute an experiment, up
    to `jobs` stages at a time (1: in this process; None, what the CLI passes without --jobs: one per
    visible GPU, see `resolve_jobs`)."""
    from harness.cli.progress import stage_reporter

    err = console(stderr=True)
    config = load_experiment(experiment, overrides)
    stages = plan(config)
    runs_dir = output_dir(config, output)
    if dry_run:
        print_plan(stages, runs_dir)
        return {"ran": 0, "skipped": 0}
    from harness.model import check_model_reference

    check_model_reference(config.model)
    executor = registry.get("executor", config.executor)(config.executor_settings, model=config.model)
    jobs = resolve_jobs(jobs, executor)
    if jobs != 1:
        executor.set_jobs(jobs)
    if runs_dir.exists() and not runs_dir.is_dir():
        raise UserError(f"--output {runs_dir}: a file, not a directory; pass a directory for the runs (it is "
                        "created if missing)")
    runs_dir.mkdir(parents=True, exist_ok=True)
    record_experiment(runs_dir, with_overrides(plan_record(config, stages), overrides), allow_mixed)
    for stage in stages:  # a done stage whose results do not read back (truncated, deleted) runs again
        why = reopen_damaged(runs_dir / stage.key)
        if why:
            click.echo(f"{stage.key}: {why}; running this stage again", err=True)
    todo = [s for s in stages if not is_done(runs_dir / s.key)]
    if not todo:
        click.echo(f"nothing to do: all {len(stages)} stages in {runs_dir} are done (no training ran)")
        return {"ran": 0, "skipped": len(stages)}
    at_once = f", up to {jobs} at a time (logs: <stage>/stage.log)" if jobs > 1 else ""
    err.print(f"[bold]{config.name}[/]: {len(todo)} of {len(stages)} stages to run into {runs_dir}{at_once}")
    with stage_reporter(err, len(stages), runs_dir, concurrent=jobs > 1) as (on_stage, on_step):
        counts = executor.run(stages, runs_dir, config.data.settings(), config.trust_remote_code, on_stage, on_step)
    click.echo(f"{counts['ran']} stages ran, {counts['skipped']} were already done; results in {runs_dir}")
    return counts
