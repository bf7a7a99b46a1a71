"""The slurm executor on a real single-node SLURM (tests/slurm_cluster.py: installed and started when absent,
as root): the local executor's metrics byte for byte, a stage stopped mid-training that is requeued and
resumes from its checkpoint to the uninterrupted run's numbers, and a failed stage (failure record, its
dependents never run, the other arm unaffected, `xstilts status`, a re-run that recomputes nothing done).

Skipped where no cluster can be had, unless XSTILTS_REQUIRE_SERVICES=1 (CI), where that fails."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import slurm_cluster
from conftest import CLI, TINY_HPARAMS, write_experiment

from harness.executors.slurm import jobs_file, queue_states

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.xdist_group("slurm")]

JOBS = "executor: slurm\nexecutor_settings: {cpus_per_task: 1, mem_gb: 1, gpus_per_node: 0, poll_s: 1}\n"


@pytest.fixture(scope="session")
def cluster() -> Iterator[slurm_cluster.Cluster]:
    """A SLURM cluster answering on this machine for the session (started here unless one answers)."""
    root = Path(tempfile.mkdtemp(prefix="xstilts-slurm-"))
    started = time.time()
    found = slurm_cluster.start(root)
    if isinstance(found, str):
        shutil.rmtree(root, ignore_errors=True)
        if os.environ.get(slurm_cluster.REQUIRE_ENV) == "1":
            pytest.fail(f"{slurm_cluster.REQUIRE_ENV}=1 but no SLURM cluster: {found}")
        pytest.skip(f"no SLURM cluster: {found}")
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(found.conf)
    print(f"SLURM cluster ready in {time.time() - started:.1f} s ({found.conf})", file=sys.stderr)
    try:
        yield found
    finally:
        found.stop()
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        shutil.rmtree(root, ignore_errors=True)


def _metrics(runs: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted(runs.glob("*/metrics.json"))}


def _local_run(offline_world, tmp_path: Path, body: str) -> dict[str, bytes]:
    from harness.cli.run import run_experiment

    exp = write_experiment(tmp_path / "local.yaml", offline_world, body + "executor: local\n")
    run_experiment(exp, tmp_path / "local", dry_run=False, allow_mixed=False)
    return _metrics(tmp_path / "local")


SMOKE = """name: slurm-smoke
seeds: [1]
arms: [mnli]
targets:
  - {task: pawsx, languages: [en, de]}
  - {task: tatoeba, languages: [de]}
""" + TINY_HPARAMS


def test_slurm_gives_the_local_metrics_byte_for_byte(cluster, offline_world, tmp_path, xstilts):
    exp = write_experiment(tmp_path / "slurm.yaml", offline_world, SMOKE + JOBS)
    runs = tmp_path / "slurm"
    started = time.time()
    code, out, err = xstilts("run", exp, "-o", runs)
    assert code == 0, err
    assert f"4 stages ran, 0 were already done; results in {runs}" in out, out + err
    print(f"4 stages on SLURM in {time.time() - started:.1f} s", file=sys.stderr)
    assert _metrics(runs) == _local_run(offline_world, tmp_path, SMOKE) and len(_metrics(runs)) == 4

    jobs = json.loads(jobs_file(runs).read_text())["jobs"]
    ids = {key: job["job_id"] for key, job in jobs.items()}
    for key, job in jobs.items():  # the plan's edges are the jobs' dependencies
        assert job["dependency"] == (f"afterok:{ids[job['upstream']]}" if job["upstream"] else None), key
        assert Path(job["log"]).is_file()
    code, out, err = xstilts("status", runs, "--json")
    status = json.loads(out)
    assert status["counts"]["done"] == 4 and status["slurm_reachable"] is True
    assert {row["key"]: row["log"] for row in status["stages"]} == {k: j["log"] for k, j in jobs.items()}
    code, out, _ = xstilts("run", exp, "-o", runs)
    assert code == 0 and "nothing to do: all 4 stages" in out


LONG = """name: slurm-requeue
seeds: [1]
arms: [mnli]
targets:
  - {task: pawsx, languages: [en]}
splits: [dev]
hparams: {lr: 1.0e-3, batch_size: 8, max_seq_length: 32, eval_examples: 16, eval_every: 1000000, save_every: 10,
          max_steps: 6}
task_hparams:
  mnli: {max_steps: 400}
"""
RESUMED = re.compile(r"^resuming from \S+ at step (\d+) of 400$", re.M)


class _Run:
    """`xstilts run` in a subprocess, its output collected as it comes."""

    def __init__(self, exp: Path, runs: Path) -> None:
        self.proc = subprocess.Popen([*CLI, "run", str(exp), "-o", str(runs)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self.reader.start()

    def until(self, ready: Callable[[], object], what: str, seconds: float = 300) -> object:
        deadline = time.time() + seconds
        while True:
            value = ready()
            if value:
                return value
            assert self.proc.poll() is None, f"`xstilts run` ended before {what}:\n{self.output()}"
            assert time.time() < deadline, f"no {what} within {seconds} s:\n{self.output()}"
            time.sleep(0.1)

    def wait(self) -> int:
        code = self.proc.wait(timeout=600)
        self.reader.join(timeout=10)
        return code

    def output(self) -> str:
        return "".join(self.lines)

    def wait_requeued(self, job_id: str) -> None:
        """The job is pending again after its requeue; SLURM starts it itself once `cred_expire` has passed
        (10 s in the test cluster's slurm.conf). Releasing it earlier (`StartTime=now`) raced with the previous
        run leaving the node on a loaded machine, and SLURM then marked the job FAILED."""
        self.until(lambda: _state(job_id) == "PENDING", f"job {job_id} pending again")

    def checkpoint_after(self, state: Path, since: float) -> None:
        self.until(lambda: _mtime(state) > since, "a checkpoint after resuming")


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # between the two renames of a checkpoint save
        return 0.0


def _state(job_id: str) -> str:
    return (queue_states([job_id]) or {}).get(job_id, ("", ""))[0]


def _stage_job(runs: Path, kind: str) -> tuple[str, dict]:
    jobs = json.loads(jobs_file(runs).read_text())["jobs"] if jobs_file(runs).exists() else {}
    return next(((k, j) for k, j in jobs.items() if j["kind"] == kind), ("", {}))


def test_a_stage_stopped_mid_training_is_requeued_and_resumes(cluster, offline_world, tmp_path):
    """Stopped three ways while training, the intermediate stage resumes from its checkpoint each time, and the
    final numbers are an uninterrupted run's: `scancel --signal=USR2` (SLURM's time-limit warning: the job
    checkpoints and requeues itself), `scontrol requeue` (SLURM requeues, as on preemption: SIGTERM, the job
    checkpoints), a plain `scancel` (the job stays cancelled with its checkpoint; `xstilts run` again resumes)."""
    exp = write_experiment(tmp_path / "slurm.yaml", offline_world, LONG + JOBS)
    runs = tmp_path / "slurm"
    run = _Run(exp, runs)
    try:
        key, job = run.until(lambda: _stage_job(runs, "intermediate")[1] and _stage_job(runs, "intermediate"),
                             "jobs.json")
        job_id, log, state = job["job_id"], Path(job["log"]), runs / key / "checkpoint" / "state.pt"
        run.until(state.exists, "a first checkpoint")
        subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
        run.wait_requeued(job_id)
        run.until(lambda: RESUMED.findall(log.read_text()), "a resumed run")
        run.checkpoint_after(state, time.time())
        subprocess.run(["scontrol", "requeue", job_id], check=True)
        run.wait_requeued(job_id)
        run.until(lambda: len(RESUMED.findall(log.read_text())) == 2, "a second resumed run")
        run.checkpoint_after(state, time.time())
        subprocess.run(["scancel", job_id], check=True)
        assert run.wait() == 2, run.output()
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            subprocess.run(["scancel", *[j["job_id"] for j in json.loads(jobs_file(runs).read_text())["jobs"]
                                         .values()]], capture_output=True)
    text = log.read_text()
    assert "stopped by SIGTERM" in text and f"job {job_id} requeued; it resumes from the checkpoint" in text
    last = run.output().strip().splitlines()[-1]
    assert re.fullmatch(rf"error: stage {key} failed on SLURM \(job {job_id}\): job {job_id} ended CANCELLED before "
                        r"the stage finished \(.*CANCELLED.*\); its checkpoint is kept, `xstilts run` again resumes; "
                        rf"log: {log}; 2 not run \(upstream failed\)", last), last

    again = _Run(exp, runs)
    assert again.wait() == 0, again.output()
    assert "3 stages ran, 0 were already done" in again.output()
    new_log = Path(_stage_job(runs, "intermediate")[1]["log"])
    steps = [int(s) for s in RESUMED.findall(text) + RESUMED.findall(new_log.read_text())]
    assert new_log != log and len(steps) == 3 and 0 < steps[0] < steps[1] < steps[2] < 400, steps
    assert not (runs / key / "checkpoint").exists() and not (runs / key / "failed.json").exists()
    assert _metrics(runs) == _local_run(offline_world, tmp_path, LONG) and len(_metrics(runs)) == 3


FAILING = """name: slurm-failure
seeds: [1]
arms: [none, mnli]
targets:
  - {task: pawsx, languages: [en]}
splits: [dev]
""" + TINY_HPARAMS


def test_a_failed_stage_stops_its_branch_only(cluster, offline_world, tmp_path, xstilts):
    exp = write_experiment(tmp_path / "slurm.yaml", offline_world, FAILING + JOBS)
    runs = tmp_path / "slurm"
    empty = tmp_path / "empty"
    empty.mkdir()  # MNLI's data is not there: the intermediate stage fails in its job
    code, out, err = xstilts("run", exp, "-o", runs, "--set", f'data.snapshots={{"nyu-mll/glue": "{empty}"}}')
    assert code == 2, out + err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    match = re.fullmatch(r"error: stage (intermediate-\S+) failed on SLURM \(job (\d+)\): snapshot of nyu-mll/glue "
                         r"at \S+ has no README.md .*; log: (\S+); 2 not run \(upstream failed\)", last)
    assert match, err
    inter, log = match.group(1), Path(match.group(3))
    assert "snapshot of nyu-mll/glue" in log.read_text()
    failed = json.loads((runs / inter / "failed.json").read_text())
    assert failed["log"] == str(log) and failed["error"].startswith("snapshot of nyu-mll/glue")

    code, out, _ = xstilts("status", runs, "--json")
    rows = {row["key"]: row for row in json.loads(out)["stages"]}
    assert (rows[inter]["state"], rows[inter]["log"]) == ("failed", str(log))
    branch = [k for k, row in rows.items() if k != inter and _upstream_chain(rows, k, inter)]
    other = [k for k in rows if k != inter and k not in branch]
    assert len(branch) == 2 and all(rows[k]["state"] == "pending" and not (runs / k / "done").exists()
                                    for k in branch)
    assert len(other) == 2 and all(rows[k]["state"] == "done" for k in other)
    code, out, _ = xstilts("status", runs)
    assert code == 0 and "failed" in out and out.strip().splitlines()[-1] == "5 stages: 2 done, 2 pending, 1 failed"

    # fixed, run again: the failed branch runs, the other arm's stages are not recomputed
    done_before = {k: (runs / k / "metrics.json").stat().st_mtime_ns for k in other}
    code, out, err = xstilts("run", exp, "-o", runs)
    assert code == 0, err
    assert "3 stages ran, 2 were already done" in out
    assert {k: (runs / k / "metrics.json").stat().st_mtime_ns for k in other} == done_before
    assert not (runs / inter / "failed.json").exists()


def _upstream_chain(rows: dict, key: str, ancestor: str) -> bool:
    while rows[key]["upstream"]:
        key = rows[key]["upstream"]
        if key == ancestor:
            return True
    return False
