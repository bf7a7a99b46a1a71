"""What `xstilts run` shows while stages run: a live bar on a terminal, one line per stage event otherwise
(nohup, batch systems, CI logs), each with the stage key, its seconds and its headline metric."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.executors.failures import read_failure
from harness.layout import METRICS_JSON, STAGE_LOG
from harness.store import is_done, read_json

OnStage = Callable[[Any, str], None]
OnStep = Callable[[str, int, int, float], None]


def headline(metrics_path: Path) -> str:
    """The number a stage is judged by: the test (else dev) score of an evaluation, the best dev score of a
    training stage; '' when there is none or the file is unreadable."""
    try:
        metrics = read_json(metrics_path)
    except (OSError, ValueError):
        return ""
    splits = metrics.get("splits") or {}
    for split in ("test", "dev"):
        score = (splits.get(split) or {}).get("score")
        if score is not None:
            return f"{split} score {score:.1f}"
    score = metrics.get("dev_score")
    return f"best dev score {score:.1f}" if isinstance(score, (int, float)) else ""


@contextmanager
def stage_reporter(console: Any, total: int, runs_dir: Path,
                   concurrent: bool = False) -> Iterator[tuple[OnStage, OnStep]]:
    """(on_stage, on_step) callbacks for an executor, drawing a bar on a terminal, else printing lines.

    With `concurrent` stages (`--jobs N`) every stage event is a line, also on a terminal (above a bar that
    counts finished stages and running ones): interleaved stages cannot share one line of state."""
    if console.is_terminal:
        with _bar(console, total, runs_dir, concurrent) as callbacks:
            yield callbacks
    else:
        yield _lines(console, total, runs_dir), lambda label, step, steps, loss: None


def _lines(console: Any, total: int, runs_dir: Path) -> OnStage:
    """One line per event, numbered by the stage's start: start, done (seconds, headline), failed (error, log),
    stopped, not run (blocked); done stages are skipped silently (the summary counts them)."""
    state: dict[str, Any] = {"n": 0, "started": {}}

    def on_stage(stage: Any, event: str) -> None:
        if event == "start":
            state["n"] += 1
            state["started"][stage.key] = (state["n"], time.time())
            if not is_done(runs_dir / stage.key):
                console.print(f"[{state['n']}/{total}] start {stage.key}", highlight=False, soft_wrap=True)
            return
        if event == "skipped":
            return
        n, started = state["started"].get(stage.key, ("-", time.time()))
        seconds = time.time() - started
        if event == "ran":
            result = headline(runs_dir / stage.key / METRICS_JSON)
            line = f"done {stage.key} in {seconds:.1f} s" + (f": {result}" if result else "")
        elif event == "failed":
            failure = read_failure(runs_dir / stage.key) or {}
            line = (f"failed {stage.key} after {seconds:.1f} s: {failure.get('error', 'see its log')}; "
                    f"log: {failure.get('log', runs_dir / stage.key / STAGE_LOG)}")
        elif event == "stopped":
            line = f"stopped {stage.key} after {seconds:.1f} s; run again to resume it"
        elif event == "blocked":
            line = f"not run {stage.key}: it needs {stage.upstream}, which did not finish"
        else:
            line = f"{event} {stage.key}"
        console.print(f"[{n}/{total}] {line}", highlight=False, markup=False, soft_wrap=True)

    return on_stage


@contextmanager
def _bar(console: Any, total: int, runs_dir: Path, concurrent: bool) -> Iterator[tuple[OnStage, OnStep]]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=console, transient=False) as bar:
        overall = bar.add_task("stages", total=total, info="")
        if concurrent:
            yield _concurrent_bar(bar, overall, _lines(bar.console, total, runs_dir)), lambda *_: None
            return
        steps: dict[str, Any] = {"id": None}

        def on_stage(stage: Any, event: str) -> None:
            if event == "start":
                if steps["id"] is not None:
                    bar.remove_task(steps["id"])
                    steps["id"] = None
                bar.update(overall, info=stage.key)
            else:
                bar.advance(overall)

        def on_step(label: str, step: int, n_steps: int, loss: float) -> None:
            if steps["id"] is None:
                steps["id"] = bar.add_task(f"  {label}", total=n_steps, info="")
            bar.update(steps["id"], completed=step, info=f"loss {loss:.3f}")

        yield on_stage, on_step


def _concurrent_bar(bar: Any, overall: Any, lines: OnStage) -> OnStage:
    """Lines above the bar for every event; the bar counts stages with an outcome and shows how many run."""
    running: set[str] = set()

    def on_stage(stage: Any, event: str) -> None:
        lines(stage, event)
        if event == "start":
            running.add(stage.key)
        else:
            running.discard(stage.key)
            bar.advance(overall)
        bar.update(overall, info=f"{len(running)} running")

    return on_stage
