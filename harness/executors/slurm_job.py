"""What a SLURM job of the slurm executor runs: one stage, as `xstilts run-stage RUNS_DIR KEY` does, made
preemptible (submitit pickles `run_stage_job` and runs it on the node).

SIGUSR2 (SLURM's warning before the time limit, submitit's `--signal`) becomes SIGTERM, the training loop's stop
signal: the loop finishes its step, saves its checkpoint and stops (`Interrupted`); the job then requeues itself
with `scontrol requeue` while SLURM still has it RUNNING (only a signal came), and leaves the job to SLURM when
SLURM is ending it (a requeue or preemption, which requeue it; a cancel, which keeps it cancelled). A warning that
comes before the loop runs (data loading) is passed on when the loop installs its handler. A failure writes
runs/<key>/failed.json (the error line, this job's log) and raises: the job fails, and SLURM cancels the jobs
that wait for it.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from harness.checkpoint import Interrupted
from harness.errors import UserError
from harness.executors.failures import record_failure
from harness.executors.slurm import queue_states
from harness.layout import FAILED
from harness.store import is_done

STOPPED_EXIT = 3
"""The job's exit code when it stopped on a signal after saving its checkpoint (requeued or cancelled)."""


def run_stage_job(runs_dir: str, key: str, max_requeues: int = 10) -> str:
    """Run stage `key` of the experiment recorded in `runs_dir` (see the module docstring); returns the key."""
    from harness.execute import run_recorded_stage

    runs, stage_dir = Path(runs_dir), Path(runs_dir) / key
    job_id = os.environ.get("SLURM_JOB_ID", "")
    log = _own_log()
    (stage_dir / FAILED).unlink(missing_ok=True)
    signal.signal(signal.SIGUSR2, functools.partial(_as_sigterm, signal.getsignal(signal.SIGTERM)))
    try:
        run_recorded_stage(runs, key)
    except Interrupted as exc:
        if is_done(stage_dir):  # the signal came during the last step: the stage finished
            return key
        _stop_or_requeue(stage_dir, key, job_id, str(exc), log, max_requeues)
    except Exception as exc:
        error = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        line = error.strip().splitlines()[0] if error.strip() else type(exc).__name__
        record_failure(stage_dir, log=log, error=line, executor="slurm", job_id=job_id, state="FAILED")
        raise
    return key


def _as_sigterm(outside: Any, signum: int, frame: Any) -> None:
    """SIGUSR2 -> SIGTERM, the training loop's stop signal (it checkpoints at the end of the step and stops).
    `outside` is the SIGTERM handler in place outside the loop (submitit's, which only logs): while it is in
    place, a watcher passes the stop on once the loop installs its own handler."""
    print(f"job {os.environ.get('SLURM_JOB_ID', '?')}: SIGUSR2 (time limit near, or preemption): stopping at "
          "the next training step", file=sys.stderr, flush=True)
    if signal.getsignal(signal.SIGTERM) is not outside:
        signal.raise_signal(signal.SIGTERM)
        return
    threading.Thread(target=_stop_when_training, args=(outside,), daemon=True).start()


def _stop_when_training(outside: Any, every_s: float = 0.2) -> None:
    """Send this process SIGTERM as soon as the SIGTERM handler is no longer `outside` (the loop runs)."""
    while signal.getsignal(signal.SIGTERM) is outside:
        time.sleep(every_s)
    os.kill(os.getpid(), signal.SIGTERM)


def _own_log() -> str | None:
    """This job's log file, as submitit names it (None outside a submitit job)."""
    try:
        import submitit

        return str(submitit.JobEnvironment().paths.stdout)
    except Exception:  # not inside a submitit job (a test calling the function)
        return None


def _stop_or_requeue(stage_dir: Path, key: str, job_id: str, message: str, log: str | None,
                     max_requeues: int) -> None:
    """After the training loop checkpointed and stopped: requeue this job when only a signal came (the job is
    still RUNNING); leave it to SLURM when it is ending the job (requeue, preemption, cancel)."""
    state = (queue_states([job_id]) or {}).get(job_id, ("UNKNOWN", ""))[0] if job_id else "UNKNOWN"
    restarts = int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    print(f"{key}: {message} (job {job_id} is {state})", file=sys.stderr, flush=True)
    if state == "RUNNING":
        if restarts >= max_requeues:
            error = f"stopped after {restarts} requeues (max_requeues); its checkpoint is kept: run again"
            record_failure(stage_dir, log=log, error=error, executor="slurm", job_id=job_id, state="REQUEUE_LIMIT")
            raise RuntimeError(f"stage {key}: not requeued again after {restarts} requeues")
        subprocess.run(["scontrol", "requeue", job_id], check=True, capture_output=True, timeout=60)
        print(f"{key}: job {job_id} requeued; it resumes from the checkpoint", file=sys.stderr, flush=True)
    raise SystemExit(STOPPED_EXIT)
