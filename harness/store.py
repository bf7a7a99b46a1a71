"""Stage directories: atomic writes, a `done` marker written last, and a per-stage lock.

Every file written through here (and every file of a staged directory or checkpoint) gets the permissions
of a plain `open()` under the process umask (0644 under umask 022), not the 0600 of `tempfile.mkstemp`, which
the atomic writes go through (as do some libraries' writers).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.layout import DONE, METRICS_JSON, STAGE_JSON

RESULT_FILES = (STAGE_JSON, METRICS_JSON)
"""What a done stage must be able to read back; a done stage without them is run again (`reopen_damaged`)."""

_file_mode: int | None = None


def file_mode() -> int:
    """0o666 less the process umask: the mode `open()` gives a new file. Read once, on first use."""
    global _file_mode
    if _file_mode is None:
        _file_mode = 0o666 & ~_umask()
    return _file_mode


def _umask() -> int:
    """The process umask, from /proc (setting it to read it, the only portable way, races other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0)
    os.umask(umask)
    return umask


def temp_file(directory: Path, name: str, suffix: str = ".tmp") -> tuple[int, str]:
    """`tempfile.mkstemp` in `directory` for an atomic write of `name`, with the umask's mode (not 0600)."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=suffix)
    try:
        os.fchmod(fd, file_mode())
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, tmp


def follow_umask(directory: Path) -> None:
    """Give each file under `directory` the umask's mode: libraries write some with mkstemp's 0600 (safetensors'
    model.safetensors, in a checkpoint or a saved model). For directories this process has just written."""
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, file_mode())


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (temp file in the same directory, then rename); stable key order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(path.parent, path.name)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        f.write("\n")
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(path.parent, path.name)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


class UnreadableFile(UserError, ValueError):
    """A JSON file that does not parse (truncated by a full disk, a crash, an edit): one line naming it."""


def read_json(path: Path) -> Any:
    """The parsed file; `UnreadableFile` (a UserError and a ValueError) naming it when it is not JSON."""
    data = path.read_bytes()
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise UnreadableFile(f"{path} is unreadable: not valid JSON ({exc})") from None


def is_done(stage_dir: Path) -> bool:
    return (stage_dir / DONE).exists()


def damaged_result(stage_dir: Path) -> str | None:
    """For a done stage: why one of its RESULT_FILES cannot be read back (missing, not JSON); None when all
    read (or the stage is not done). Reads only these small files."""
    if not is_done(stage_dir):
        return None
    for name in RESULT_FILES:
        path = stage_dir / name
        try:
            read_json(path)
        except FileNotFoundError:
            return f"{path} is missing"
        except (OSError, ValueError) as exc:
            return str(exc) if isinstance(exc, UnreadableFile) else f"{path} is unreadable ({exc})"
    return None


def reopen_damaged(stage_dir: Path) -> str | None:
    """A done stage whose results cannot be read back is not done: remove its `done` marker (so the stage
    runs again) and return why; None, touching nothing, when the stage is not done or reads back whole."""
    why = damaged_result(stage_dir)
    if why is not None:
        (stage_dir / DONE).unlink(missing_ok=True)
    return why


def mark_done(stage_dir: Path) -> None:
    write_text(stage_dir / DONE, "")


@contextmanager
def staging_dir(final: Path) -> Iterator[Path]:
    """A temporary sibling directory renamed to `final` on success (replacing an old partial one)."""
    tmp = final.with_name(f".{final.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    follow_umask(tmp)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


@contextmanager
def stage_lock(stage_dir: Path) -> Iterator[None]:
    """Exclusive lock on a stage so two processes never run it at once."""
    import fcntl

    stage_dir.mkdir(parents=True, exist_ok=True)
    with open(stage_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"stage {stage_dir} is being run by another process; wait for it or stop it") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
