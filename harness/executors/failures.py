"""A stage's failure record (runs/<key>/failed.json) and the one line that says why, read from its log.

An executor that runs a stage in its own process (its output in runs/<key>/stage.log) writes the record when
that process fails, and removes it when an attempt starts or the stage is done, so the record always speaks
of the last attempt. `xstilts status` and the run's summary read it. Fields: key, log (absolute path),
exit_code, error (one line), executor, at (epoch seconds); the slurm executor writes error, log and at too.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from harness.layout import FAILED
from harness.store import read_json, write_json

ATTEMPT_MARK = "==> "
"""How a log's line announcing an attempt begins (a log keeps every attempt's output, oldest first)."""

_TAIL_BYTES = 64 * 1024


def record_failure(stage_dir: Path, *, log: Path | str | None, error: str, executor: str,
                   exit_code: int | None = None, **extra: Any) -> dict[str, Any]:
    """Write FAILED for the stage in `stage_dir` (`extra`: executor-specific fields); returns the record."""
    record = {"key": stage_dir.name, "log": str(Path(log).resolve()) if log else None, "exit_code": exit_code,
              "error": error, "executor": executor, "at": time.time(), **extra}
    write_json(stage_dir / FAILED, record)
    return record


def clear_failure(stage_dir: Path) -> None:
    """Remove a stale failure record (a new attempt starts, or the stage is done)."""
    (stage_dir / FAILED).unlink(missing_ok=True)


def read_failure(stage_dir: Path) -> dict[str, Any] | None:
    """The stage's failure record, None when there is none or it does not read back."""
    try:
        return read_json(stage_dir / FAILED)
    except (OSError, ValueError):
        return None


def error_line(log: Path, exit_code: int) -> str:
    """Why the last attempt in `log` failed, in one line: the CLI's `error: ` line (a UserError), else the
    last line of the output (a traceback ends with the exception), else the exit code or the signal."""
    lines = _last_attempt(log)
    for line in reversed(lines):
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    how = f"killed by {_signal_name(-exit_code)}" if exit_code < 0 else f"exit code {exit_code}"
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return f"{last[:300]} ({how})" if last else how


def tail_lines(log: Path) -> list[str]:
    """The lines of the last 64 KiB of `log` (a long training log is not read whole); [] when unreadable."""
    try:
        with open(log, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL_BYTES))
            return handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []


def _last_attempt(log: Path) -> list[str]:
    lines = tail_lines(log)
    starts = [i for i, line in enumerate(lines) if line.startswith(ATTEMPT_MARK)]
    return lines[starts[-1] + 1:] if starts else lines


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
