"""What every executor shares: its settings check and the stage loop (skip done stages, count, report).

An executor (entry point group `xstilts.executors`) subclasses `Executor` and says only where one stage
runs (`run_stage`), and what it needs once before the first one (`start`). One that can also start a stage
in its own process without waiting for it (`launch`) runs `jobs` stages at a time (`xstilts run --jobs N`):
the DAG-aware scheduler of harness.executors.schedule does the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from harness.data.settings import DataSettings
from harness.errors import UserError, did_you_mean
from harness.executors.failures import clear_failure
from harness.plan import Stage
from harness.store import is_done

OnStage = Callable[[Stage, str], None]
"""Called with "start" before each stage, then "ran" or "skipped"; with jobs > 1 also "failed", "stopped"
(by Ctrl-C, resumable) and "blocked" (never started: a stage it needs failed; no "start" before it)."""


class Executor:
    """Runs stages in plan order (upstream first); done stages are skipped."""

    name: ClassVar[str] = ""
    SETTINGS: ClassVar[tuple[str, ...]] = ()
    """Names allowed in the experiment's `executor_settings`."""
    jobs: int = 1
    """How many stages run at a time (`set_jobs`); 1 runs them one after the other through `run_stage`."""

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
        """Run every stage that is not done; returns {"ran": n, "skipped": n}.

        With jobs > 1 stages run concurrently through `launch`: a failed stage does not stop the others, and
        the failures are raised at the end (harness.executors.schedule.StagesFailed, a UserError).
        """
        self.start()
        if self.jobs > 1:
            from harness.executors.schedule import run_concurrently

            def launch(stage: Stage, slot: int, log: Path):
                return self.launch(stage, runs_dir, data, slot, log)

            return run_concurrently(stages, runs_dir, self.jobs, launch, on_stage, self.name)
        counts = {"ran": 0, "skipped": 0}
        for stage in stages:
            if on_stage:
                on_stage(stage, "start")
            ran = not is_done(runs_dir / stage.key) and self.run_stage(stage, runs_dir, data, trust_remote_code,
                                                                       progress)
            event = "ran" if ran else "skipped"
            counts[event] += 1
            clear_failure(runs_dir / stage.key)  # a record of an earlier attempt's failure is stale now
            if on_stage:
                on_stage(stage, event)
        return counts

    @classmethod
    def concurrent(cls) -> bool:
        """Whether this executor can run several stages at a time (it implements `launch`)."""
        return cls.launch is not Executor.launch

    def set_jobs(self, jobs: int) -> None:
        """Run up to `jobs` stages at a time; more than 1 needs an executor that implements `launch`."""
        if jobs > 1 and not self.concurrent():
            raise UserError(f"--jobs {jobs}: the {self.name} executor runs one stage at a time; drop --jobs, or "
                            "use `executor: local`")
        self.jobs = jobs

    def start(self) -> None:
        """Called once before the first stage (e.g. to reach a container engine); nothing by default."""

    def run_stage(self, stage: Stage, runs_dir: Path, data: DataSettings, trust_remote_code: bool,
                  progress: Callable | None) -> bool:
        """Run one stage whose upstream stages are done; False when it turned out done already."""
        raise NotImplementedError

    def launch(self, stage: Stage, runs_dir: Path, data: DataSettings, slot: int, log: Path) -> Any:
        """Start one stage (its upstream done) in its own process in concurrency slot `slot` (0 to jobs - 1),
        its output appended to `log`, and return at once a handle with `poll()`, `send_signal(signum)` and
        `kill()` (a `subprocess.Popen` is one). The process must exit 0 once the stage is done, and on SIGINT
        or SIGTERM write the stage's checkpoint and exit. Not implemented: the executor runs one stage at a
        time."""
        raise NotImplementedError
