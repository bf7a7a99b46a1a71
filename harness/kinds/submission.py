"""Submission files: the readers and checks kinds use to own their XTREME submission format.

A kind writes its predictions (`Kind.write_predictions`) and reads prediction and gold files back
(`Kind.read_submission`, `Kind.read_gold`) as a `SubmissionFile`: the items the metric takes and the line
each item starts on, so that `Kind.check_submission` can name the file and line of what does not fit.
Every error is a one-line UserError: file:line, what is wrong, how to fix it. No torch here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UserError


@dataclass(frozen=True)
class SubmissionFile:
    """One prediction or gold file read back: the metric's items and the line each one starts on."""

    path: Path
    items: Any
    lines: list[int]


# ---------------------------------------------------------------- reading


def lines(path: Path) -> list[str]:
    """Stripped lines, as XTREME's evaluate.py reads them; trailing blank lines are dropped."""
    try:
        found = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason}); save the file as UTF-8") from None
    while found and not found[-1]:
        found.pop()
    return found


def read_json(path: Path) -> Any:
    """The JSON value of `path`; invalid JSON or text names the file and line."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); write one JSON object") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason}); save the file as UTF-8") from None


def read_labels(path: Path) -> SubmissionFile:
    """One label (or integer index) per line."""
    found = lines(path)
    return SubmissionFile(path, found, list(range(1, len(found) + 1)))


def read_tags(path: Path) -> SubmissionFile:
    """One tag per line, a blank line after each sentence; each sentence with its first line number."""
    sentences: list[list[str]] = []
    starts: list[int] = []
    current: list[str] = []
    start = 1
    for number, line in enumerate(lines(path), start=1):
        if line:
            current.append(line)
            continue
        sentences.append(current)
        starts.append(start)
        current, start = [], number + 1
    if current:
        sentences.append(current)
        starts.append(start)
    return SubmissionFile(path, sentences, starts)


def read_pairs(path: Path) -> SubmissionFile:
    """BUCC lines `src_id<TAB>trg_id`; blank lines are skipped, any other shape is an error."""
    pairs: list[tuple[str, str]] = []
    numbers: list[int] = []
    for number, line in enumerate(lines(path), start=1):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not all(f.strip() for f in fields):
            raise UserError(
                f"{path}:{number}: malformed line {line[:60]!r}; write one 'src_id<TAB>trg_id' pair per line"
            )
        pairs.append((fields[0].strip(), fields[1].strip()))
        numbers.append(number)
    return SubmissionFile(path, pairs, numbers)


# ---------------------------------------------------------------- checks


def check_count(path: Path, line: int, what: str, got: int, want: int) -> None:
    """`got` items of `what` where the gold file has `want`: an error at `line` unless equal."""
    if got != want:
        raise UserError(
            f"{path}:{line}: {got} {what} for {want} in the gold file; write exactly one per gold item, "
            "in the gold order"
        )


def check_known(path: Path, labels: Iterable[str], numbers: Iterable[int], known: Sequence[str]) -> None:
    """Every label is one of `known`; the first that is not is an error at its line."""
    allowed = set(known)
    for label, number in zip(labels, numbers, strict=True):
        if label not in allowed:
            raise UserError(f"{path}:{number}: unknown label {label!r}; expected one of {', '.join(known)}")


def check_labels(pred: SubmissionFile, gold: SubmissionFile, known: Sequence[str]) -> None:
    """One label per gold line, each one of `known` (when the task names its labels)."""
    check_count(pred.path, min(len(pred.items), len(gold.items)) + 1, "lines", len(pred.items), len(gold.items))
    if known:
        check_known(gold.path, gold.items, gold.lines, known)
        check_known(pred.path, pred.items, pred.lines, known)


def check_tags(pred: SubmissionFile, gold: SubmissionFile, known: Sequence[str]) -> None:
    """One sentence per gold sentence, one tag per gold token, each tag one of `known` (when named)."""
    p, g = pred.items, gold.items
    if len(p) > len(g):
        check_count(pred.path, pred.lines[len(g)], "sentences", len(p), len(g))
    end = pred.lines[-1] + len(p[-1]) if p else 1
    check_count(pred.path, end, "sentences", len(p), len(g))
    for n, (ps, gs) in enumerate(zip(p, g, strict=True)):
        if len(ps) != len(gs):
            raise UserError(
                f"{pred.path}:{pred.lines[n]}: sentence {n + 1} has {len(ps)} tags, the gold sentence "
                f"({gold.path}:{gold.lines[n]}) has {len(gs)}; write one tag per gold token"
            )
        if known:
            for file, tags in ((gold, gs), (pred, ps)):
                first = file.lines[n]
                check_known(file.path, tags, range(first, first + len(tags)), known)


# ---------------------------------------------------------------- writing


def write_lines(path: Path, items: Iterable[Any]) -> None:
    """One item per line."""
    path.write_text("".join(f"{item}\n" for item in items), encoding="utf-8")


def write_json(path: Path, obj: Any) -> None:
    """One JSON object, keys sorted."""
    path.write_text(json.dumps(obj, ensure_ascii=False, sort_keys=True), encoding="utf-8")


class LabelPerLine:
    """Mixin of a kind whose submission is one label per line (classification labels, choice indices)."""

    def write_predictions(self, path: Path, predictions: list[str]) -> None:
        """One label per line."""
        write_lines(path, predictions)

    def read_submission(self, path: Path, task: Any) -> SubmissionFile:
        return read_labels(path)

    def read_gold(self, path: Path, task: Any) -> SubmissionFile:
        return read_labels(path)

    def check_submission(self, task: Any, pred: SubmissionFile, gold: SubmissionFile) -> None:
        """One label per gold line, each one of the task's labels (when the task names them)."""
        check_labels(pred, gold, task.labels)
