"""The default executor: runs the stages in this process, in plan order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.data.settings import DataSettings
from harness.errors import UserError
from harness.execute import run_stage
from harness.plan import Stage


class LocalExecutor:
    """Run every stage here, upstream first; done stages are skipped."""

    name = "local"

    def __init__(self, settings: dict | None = None, model: str | None = None) -> None:
        if settings:
            raise UserError(f"executor_settings: the local executor takes none (got {sorted(settings)})")

    def run(self, stages: list[Stage], runs_dir: Path, data: DataSettings, trust_remote_code: bool = False,
            on_stage: Callable[[Stage, str], None] | None = None, progress: Callable | None = None) -> dict:
        counts = {"ran": 0, "skipped": 0}
        for stage in stages:
            if on_stage:
                on_stage(stage, "start")
            ran = run_stage(stage, runs_dir, data, trust_remote_code, progress)
            counts["ran" if ran else "skipped"] += 1
            if on_stage:
                on_stage(stage, "ran" if ran else "skipped")
        return counts
