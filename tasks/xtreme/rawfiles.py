"""Readers for raw retrieval files (BUCC 2018 release, LASER Tatoeba): every problem names its file."""

from __future__ import annotations

from pathlib import Path

from harness.errors import UserError


def find(data_dir: Path, name: str, subdirs: tuple[str, ...] = ()) -> Path:
    """`name` directly in data_dir or in one of its `subdirs`; a missing file is a UserError."""
    for folder in (data_dir, *(data_dir / s for s in subdirs)):
        if (folder / name).is_file():
            return folder / name
    raise UserError(f"{data_dir / name}: missing; the data directory must hold {name} "
                    "(the raw release layout)")


def read_lines(path: Path) -> list[str]:
    """Lines without their line endings; an empty file is a UserError."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason})") from None
    if not lines:
        raise UserError(f"{path}: empty file; re-extract the data release")
    return lines


def read_tsv2(path: Path, what: str) -> tuple[list[str], list[str]]:
    """Two tab-separated fields per line (`what` names them in errors), e.g. id and sentence."""
    first, second = [], []
    for number, line in enumerate(read_lines(path), start=1):
        fields = line.split("\t", 1)
        if len(fields) != 2 or not fields[0].strip():
            raise UserError(f"{path}:{number}: expected '{what}' (two tab-separated fields), "
                            f"got {line[:60]!r}")
        first.append(fields[0].strip())
        second.append(fields[1])
    return first, second
