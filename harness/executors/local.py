"""The default executor: runs the stages in this process, in plan order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.data.settings import DataSettings
from harness.execute import run_stage
from harness.executors.base import Executor
from harness.plan import Stage


class LocalExecutor(Executor):
    """Every stage here, in this process; takes no settings."""

    name = "local"

    def run_stage(self, stage: Stage, runs_dir: Path, data: DataSettings, trust_remote_code: bool,
                  progress: Callable | None) -> bool:
        return run_stage(stage, runs_dir, data, trust_remote_code, progress)
