"""The default executor: runs the stages on this machine.

One at a time (jobs 1, the default without GPUs), each stage runs in this process, in plan order. With
`xstilts run --jobs N` (default: one per visible GPU), up to N independent stages run at once, each as
`xstilts run-stage RUNS_DIR KEY` in its own process (the command a container or batch job runs too), with
CUDA_VISIBLE_DEVICES set to the GPU of its slot and its output in runs/<key>/stage.log. Where a stage runs
never changes its key or its results.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from harness.data.settings import DataSettings
from harness.execute import run_stage
from harness.executors.base import Executor
from harness.executors.devices import VISIBLE_ENV, slot_gpu, visible_gpus
from harness.executors.failures import ATTEMPT_MARK
from harness.plan import Stage

CLI = [sys.executable, "-c", "from harness.cli.main import main; main()"]
"""The `xstilts` command in the interpreter running this one (the console script may not be on PATH)."""


class LocalExecutor(Executor):
    """Every stage on this machine; takes no settings (how many at a time is `--jobs`, a machine's property)."""

    name = "local"

    def run_stage(self, stage: Stage, runs_dir: Path, data: DataSettings, trust_remote_code: bool,
                  progress: Callable | None) -> bool:
        return run_stage(stage, runs_dir, data, trust_remote_code, progress)

    def launch(self, stage: Stage, runs_dir: Path, data: DataSettings, slot: int, log: Path) -> subprocess.Popen:
        """`xstilts run-stage` in a new process (own session: a terminal's Ctrl-C reaches only the parent, which
        forwards it once), on the GPU of `slot` when there are GPUs."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        gpu = slot_gpu(self.gpus, slot)
        if gpu is not None:
            env[VISIBLE_ENV] = gpu
        command = [*CLI, "run-stage", str(runs_dir.resolve()), stage.key]
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as out:
            where = f"GPU {gpu}" if gpu is not None else "no GPU"
            out.write(f"{ATTEMPT_MARK}{time.strftime('%Y-%m-%d %H:%M:%S')} slot {slot} ({where}): "
                      f"xstilts run-stage {runs_dir.resolve()} {stage.key}\n")
            out.flush()
            return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=env, start_new_session=True)

    @cached_property
    def gpus(self) -> list[str]:
        """The GPUs the slots map to (round-robin), looked up once."""
        return visible_gpus()
