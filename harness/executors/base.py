"""What every executor shares: its settings check and the stage loop (skip done stages, count, report).

An executor (entry point group `xstilts.executors`) subclasses `Executor` and says only where one stage
runs (`run_stage`), and what it needs once before the first one (`start`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from harness.data.settings import DataSettings
from harness.errors import UserError, did_you_mean
from harness.plan import Stage
from harness.store import is_done

OnStage = Callable[[Stage, str], None]
"""Called with "start" before each stage, then "ran" or "skipped"."""


class Executor:
    """Runs stages in plan order (upstream first); done stages are skipped."""

    name: ClassVar[str] = ""
    SETTINGS: ClassVar[tuple[str, ...]] = ()
    """Names allowed in the experiment's `executor_settings`."""

    def __init__(self, settings: dict[str, Any] | None = None, model: str | None = None) -> None:
        self.settings = dict(settings or {})
        self.model = model
        for key in self.settings:
            if not self.SETTINGS:
                raise UserError(f"executor_settings: the {self.name} executor takes none (got {sorted(self.settings)})")
            if key not in self.SETTINGS:
                raise UserError(f"executor_settings: unknown setting '{key}' for the {self.name} executor"
                                f"{did_you_mean(key, self.SETTINGS)}")

    def run(self, stages: list[Stage], runs_dir: Path, data: DataSettings, trust_remote_code: bool = False,
            on_stage: OnStage | None = None, progress: Callable | None = None) -> dict[str, int]:
        """Run every stage that is not done; returns {"ran": n, "skipped": n}."""
        self.start()
        counts = {"ran": 0, "skipped": 0}
        for stage in stages:
            if on_stage:
                on_stage(stage, "start")
            ran = not is_done(runs_dir / stage.key) and self.run_stage(stage, runs_dir, data, trust_remote_code,
                                                                       progress)
            event = "ran" if ran else "skipped"
            counts[event] += 1
            if on_stage:
                on_stage(stage, event)
        return counts

    def start(self) -> None:
        """Called once before the first stage (e.g. to reach a container engine); nothing by default."""

    def run_stage(self, stage: Stage, runs_dir: Path, data: DataSettings, trust_remote_code: bool,
                  progress: Callable | None) -> bool:
        """Run one stage whose upstream stages are done; False when it turned out done already."""
        raise NotImplementedError
