"""What `xstilts run` shows while stages run: a live bar on a terminal, one line per stage event otherwise
(nohup, batch systems, CI logs), each with the stage key, its seconds and its headline metric."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.layout import METRICS_JSON
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
def stage_reporter(console: Any, total: int, runs_dir: Path) -> Iterator[tuple[OnStage, OnStep]]:
    """(on_stage, on_step) callbacks for an executor, drawing a bar on a terminal, else printing lines."""
    if console.is_terminal:
        with _bar(console, total) as callbacks:
            yield callbacks
    else:
        yield _lines(console, total, runs_dir), lambda label, step, steps, loss: None


def _lines(console: Any, total: int, runs_dir: Path) -> OnStage:
    state = {"n": 0, "started": 0.0}

    def on_stage(stage: Any, event: str) -> None:
        if event == "start":
            state["n"] += 1
            state["started"] = time.time()
            if not is_done(runs_dir / stage.key):  # a done stage is skipped silently; the summary counts it
                console.print(f"[{state['n']}/{total}] start {stage.key}", highlight=False)
            return
        if event == "skipped":
            return
        seconds = time.time() - state["started"]
        result = headline(runs_dir / stage.key / METRICS_JSON)
        console.print(f"[{state['n']}/{total}] done {stage.key} in {seconds:.1f} s" + (f": {result}" if result else ""),
                      highlight=False)

    return on_stage


@contextmanager
def _bar(console: Any, total: int) -> Iterator[tuple[OnStage, OnStep]]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=console, transient=False) as bar:
        overall = bar.add_task("stages", total=total, info="")
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
