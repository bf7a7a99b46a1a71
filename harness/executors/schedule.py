"""Run a plan's stages concurrently, each in its own process, at most `jobs` at a time, upstream first.

The scheduler knows stages, slots and processes, not where a process runs: an executor hands it `launch`
(stage, slot, log path -> a started process handle). Slot i of N is what the executor maps to a GPU.

- A stage starts once its upstream stage is done; done stages are skipped (whatever their upstream's state).
- A stage that fails gets runs/<key>/failed.json (its error line and its log); the stages that need it are
  blocked (not run), every other stage goes on. At the end, failures are one UserError line (exit 2).
- SIGINT or SIGTERM (Ctrl-C) starts no new stage and is forwarded to the running ones, which write a
  checkpoint and exit (a second Ctrl-C is forwarded too, and stops them at once, as it does in-process);
  when they have exited the run raises `Interrupted`: everything is resumable by running again.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.checkpoint import Interrupted
from harness.errors import UserError
from harness.executors.failures import clear_failure, error_line, read_failure, record_failure
from harness.layout import STAGE_LOG
from harness.plan import Stage
from harness.store import is_done

POLL_SECONDS = 0.1
STOP_SECONDS = 120
"""How long stages get to write their checkpoint when the scheduler itself fails, before they are killed."""
STOPPED_CODES = (130, -signal.SIGINT, -signal.SIGTERM)
"""Exit codes of a stage process that stopped on a forwarded signal (the CLI exits 130 on Interrupted)."""


class Handle(Protocol):
    """A started stage process (subprocess.Popen is one)."""

    def poll(self) -> int | None: ...
    def send_signal(self, signum: int) -> None: ...
    def kill(self) -> None: ...


Launch = Callable[[Stage, int, Path], Handle]
"""Start `stage` in concurrency slot `slot`, its output appended to `log`; returns at once."""


class StagesFailed(UserError):
    """Some stages failed (each has its failed.json); the others ran."""


@dataclass
class _Running:
    stage: Stage
    slot: int
    handle: Handle
    log: Path
    forwarded: int = 0
    """How many of the received stop signals this process has been sent."""


class Scheduler:
    """One concurrent run of `stages` (in plan order, upstream first) into `runs_dir`."""

    def __init__(self, stages: list[Stage], runs_dir: Path, jobs: int, launch: Launch,
                 on_stage: Callable[[Stage, str], None] | None = None, executor: str = "local") -> None:
        self.runs_dir, self.launch, self.on_stage, self.executor = runs_dir, launch, on_stage, executor
        self.order = [s.key for s in stages]
        self.keys = set(self.order)
        self.waiting = list(stages)
        self.running: dict[str, _Running] = {}
        self.free = list(range(jobs))
        self.state: dict[str, str] = {}
        """key -> ran, skipped, failed, blocked or stopped, once the stage has its outcome."""
        self.stops: list[int] = []

    def run(self) -> dict[str, int]:
        """Run every stage that is not done; {"ran": n, "skipped": n}, or StagesFailed, or Interrupted."""
        with self._catching_stops():
            try:
                while (self.waiting and not self.stops) or self.running:
                    if not self.stops:
                        self._start_ready()
                    self._forward_stops()
                    if not self._reap():
                        time.sleep(POLL_SECONDS)
            finally:
                self._stop_all()
        return self._outcome()

    def _start_ready(self) -> None:
        for stage in list(self.waiting):
            stage_dir = self.runs_dir / stage.key
            upstream = self.state.get(stage.upstream) if stage.upstream else None
            if is_done(stage_dir):
                self.waiting.remove(stage)
                clear_failure(stage_dir)
                self._event(stage, "start")
                self._event(stage, "skipped")
            elif upstream in ("failed", "blocked"):
                self.waiting.remove(stage)
                self._event(stage, "blocked")
            elif (stage.upstream in self.keys and upstream not in ("ran", "skipped")) or not self.free:
                continue
            else:
                self.waiting.remove(stage)
                slot = self.free.pop(0)
                self._event(stage, "start")
                stage_dir.mkdir(parents=True, exist_ok=True)
                clear_failure(stage_dir)
                log = stage_dir / STAGE_LOG
                self.running[stage.key] = _Running(stage, slot, self.launch(stage, slot, log), log)

    def _forward_stops(self) -> None:
        for run in self.running.values():
            while run.forwarded < len(self.stops):
                run.handle.send_signal(self.stops[run.forwarded])
                run.forwarded += 1

    def _reap(self) -> bool:
        """Take the outcome of every stage process that has exited; True when one had."""
        reaped = False
        for key, run in list(self.running.items()):
            code = run.handle.poll()
            if code is None:
                continue
            reaped = True
            del self.running[key]
            self.free = sorted([*self.free, run.slot])
            stage_dir = self.runs_dir / key
            if is_done(stage_dir):  # also when a stop came during its last step: it finished first
                clear_failure(stage_dir)
                self._event(run.stage, "ran")
            elif self.stops and code in STOPPED_CODES:
                self._event(run.stage, "stopped")
            else:
                record_failure(stage_dir, log=run.log, exit_code=code, error=error_line(run.log, code),
                               executor=self.executor)
                self._event(run.stage, "failed")
        return reaped

    def _event(self, stage: Stage, event: str) -> None:
        if event != "start":
            self.state[stage.key] = event
        if self.on_stage:
            self.on_stage(stage, event)

    def _stop_all(self) -> None:
        """Only when the scheduler itself fails: stop the running stages (they checkpoint), kill stragglers."""
        if not self.running:
            return
        for run in self.running.values():
            run.handle.send_signal(signal.SIGTERM)
        deadline = time.time() + STOP_SECONDS
        while time.time() < deadline and any(r.handle.poll() is None for r in self.running.values()):
            time.sleep(POLL_SECONDS)
        for run in self.running.values():
            if run.handle.poll() is None:
                run.handle.kill()

    @contextmanager
    def _catching_stops(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            self.stops.append(signum)

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def _outcome(self) -> dict[str, int]:
        count = {e: sum(v == e for v in self.state.values()) for e in ("ran", "skipped", "failed", "blocked")}
        if self.stops:
            stopped = [k for k in self.order if self.state.get(k) == "stopped"]
            name = signal.Signals(self.stops[0]).name
            kept = (f"{', '.join(stopped)} stopped (each kept its progress; its {STAGE_LOG} says where)" if stopped
                    else "no stage was running")
            raise Interrupted(f"stopped by {name}: {kept}; {count['ran']} stages finished; run again to resume")
        failed = [k for k in self.order if self.state.get(k) == "failed"]
        if not failed:
            return {"ran": count["ran"], "skipped": count["skipped"]}
        first = read_failure(self.runs_dir / failed[0]) or {}
        which = (f"stage {failed[0]} failed" if len(failed) == 1 else
                 f"{len(failed)} stages failed ({', '.join(failed)}); the first, {failed[0]}")
        raise StagesFailed(f"{which}: {first.get('error', 'see its log')}; log: {first.get('log')}; "
                           f"not run for want of it: {count['blocked']} stages; ran: {count['ran']}; "
                           "fix it and run again (done stages are not recomputed)")


def run_concurrently(stages: list[Stage], runs_dir: Path, jobs: int, launch: Launch,
                     on_stage: Callable[[Stage, str], None] | None = None, executor: str = "local") -> dict[str, int]:
    """Run `stages` with at most `jobs` processes at a time (see the module docstring)."""
    return Scheduler(stages, runs_dir, jobs, launch, on_stage, executor).run()
