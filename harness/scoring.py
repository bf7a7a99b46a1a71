"""The pure scorer: XTREME submission folders -> per-language metrics and aggregated scores.

Layout (google-research/xtreme README): one folder per task (`spec.submission.folder`) holding
`test-{lang}.{ext}` for every language of the task. Aggregation follows XTREME's `evaluate.py`:
per metric the plain mean over the task's languages; the task score is the mean of its `score_metrics`
((EM + F1) / 2 for QA); a group score only when all its tasks are present; the suite score only when
every task is present, otherwise null: never an average over whatever happens to exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.metrics import metric as metric_fn
from harness.metrics.qa import read_squad_gold
from harness.spec import Suite, TaskSpec

Metrics = dict[str, float]


# ---------------------------------------------------------------- aggregation (shared with the leaderboard)


def mean_over_languages(languages_metrics: Mapping[str, Mapping[str, float]]) -> Metrics:
    """Per metric, the plain mean over the languages that report it (evaluate.py's avg_<metric>)."""
    values: dict[str, list[float]] = {}
    for scores in languages_metrics.values():
        for name, value in scores.items():
            values.setdefault(name, []).append(value)
    return {name: sum(vs) / len(vs) for name, vs in values.items()}


def task_score(
    languages_metrics: Mapping[str, Mapping[str, float]],
    score_metrics: Sequence[str],
    languages: Sequence[str] | None = None,
) -> float | None:
    """Mean of the language-averaged `score_metrics`.

    None when `languages_metrics` is empty, lacks one of `languages` (if given), or lacks a score metric.
    """
    if not languages_metrics:
        return None
    if languages is not None and any(lang not in languages_metrics for lang in languages):
        return None
    if any(m not in scores for scores in languages_metrics.values() for m in score_metrics):
        return None
    means = mean_over_languages(languages_metrics)
    return sum(means[m] for m in score_metrics) / len(score_metrics)


def _mean_if_complete(values: Sequence[float | None]) -> float | None:
    if not values or any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None) / len(values)


def aggregate_suite(suite: Suite, task_scores: Mapping[str, float | None]) -> dict[str, Any]:
    """{"score": overall or None, "groups": {group: score or None}} from task name -> task score."""
    groups = {
        group: _mean_if_complete([task_scores.get(t) for t in tasks]) for group, tasks in suite.groups.items()
    }
    if suite.overall == "mean_of_tasks":
        score = _mean_if_complete([task_scores.get(t) for t in suite.tasks])
    elif suite.overall == "mean_of_groups":
        score = _mean_if_complete(list(groups.values()))
    else:
        raise ValueError(f"suite {suite.name}: unknown overall rule {suite.overall!r}")
    return {"score": score, "groups": groups}


# ---------------------------------------------------------------- submission files


def _lines(path: Path) -> list[str]:
    """Stripped lines, as evaluate.py reads them; trailing blank lines are dropped."""
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason}); save the file as UTF-8") from None
    while lines and not lines[-1]:
        lines.pop()
    return lines


def read_labels(path: Path) -> tuple[list[str], list[int]]:
    """One label (or integer index) per line; returns the labels and their line numbers."""
    lines = _lines(path)
    return lines, list(range(1, len(lines) + 1))


def read_tags(path: Path) -> tuple[list[list[str]], list[int]]:
    """One tag per line, a blank line after each sentence; returns sentences and their first line numbers."""
    sentences: list[list[str]] = []
    starts: list[int] = []
    current: list[str] = []
    start = 1
    for number, line in enumerate(_lines(path), start=1):
        if line:
            current.append(line)
        else:
            sentences.append(current)
            starts.append(start)
            current = []
            start = number + 1
            continue
    if current:
        sentences.append(current)
        starts.append(start)
    return sentences, starts


def read_pairs(path: Path) -> tuple[list[tuple[str, str]], list[int]]:
    """BUCC lines `src_id<TAB>trg_id`; blank lines are skipped, any other shape is an error."""
    pairs: list[tuple[str, str]] = []
    numbers: list[int] = []
    for number, line in enumerate(_lines(path), start=1):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not all(f.strip() for f in fields):
            raise UserError(
                f"{path}:{number}: malformed line {line[:60]!r}; write one 'src_id<TAB>trg_id' pair per line"
            )
        pairs.append((fields[0].strip(), fields[1].strip()))
        numbers.append(number)
    return pairs, numbers


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); write one JSON object") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason}); save the file as UTF-8") from None


def read_qa_predictions(path: Path) -> dict[str, str]:
    """A JSON object {question_id: answer_text}."""
    obj = _json(path)
    if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
        raise UserError(f"{path}:1: expected a JSON object {{question_id: answer_text}} with string answers")
    return obj


def read_qa_gold(path: Path) -> dict[str, list[str]]:
    """SQuAD-format gold: {"data": [{"paragraphs": [{"qas": [{"id", "answers": [{"text"}]}]}]}]}."""
    try:
        return read_squad_gold(_json(path))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(
            f"{path}:1: not SQuAD-format JSON ({type(exc).__name__}: {exc}); expected "
            '{"data": [{"paragraphs": [{"qas": [{"id": ..., "answers": [{"text": ...}]}]}]}]}'
        ) from None


# ---------------------------------------------------------------- one language of one task


def _check_count(path: Path, line: int, what: str, got: int, want: int) -> None:
    if got != want:
        raise UserError(
            f"{path}:{line}: {got} {what} for {want} in the gold file; write exactly one per gold item, "
            "in the gold order"
        )


def _check_labels(path: Path, labels: Sequence[str], numbers: Sequence[int], known: Sequence[str]) -> None:
    allowed = set(known)
    for label, number in zip(labels, numbers, strict=True):
        if label not in allowed:
            raise UserError(
                f"{path}:{number}: unknown label {label!r}; expected one of {', '.join(known)}"
            )


def _score_labels(spec: TaskSpec, pred: Path, gold: Path, lang: str) -> Metrics:
    p, p_lines = read_labels(pred)
    g, g_lines = read_labels(gold)
    _check_count(pred, min(len(p), len(g)) + 1, "lines", len(p), len(g))
    if spec.labels:
        _check_labels(gold, g, g_lines, spec.labels)
        _check_labels(pred, p, p_lines, spec.labels)
    return metric_fn(spec.metric)(g, p, lang)


def _score_tags(spec: TaskSpec, pred: Path, gold: Path, lang: str) -> Metrics:
    p, p_starts = read_tags(pred)
    g, g_starts = read_tags(gold)
    if len(p) > len(g):
        _check_count(pred, p_starts[len(g)], "sentences", len(p), len(g))
    end = p_starts[-1] + len(p[-1]) if p else 1
    _check_count(pred, end, "sentences", len(p), len(g))
    for n, (ps, gs) in enumerate(zip(p, g, strict=True)):
        if len(ps) != len(gs):
            raise UserError(
                f"{pred}:{p_starts[n]}: sentence {n + 1} has {len(ps)} tags, the gold sentence "
                f"({gold}:{g_starts[n]}) has {len(gs)}; write one tag per gold token"
            )
        if spec.labels:
            for path, tags, first in ((gold, gs, g_starts[n]), (pred, ps, p_starts[n])):
                _check_labels(path, tags, range(first, first + len(tags)), spec.labels)
    return metric_fn(spec.metric)(g, p, lang)


def _score_pairs(spec: TaskSpec, pred: Path, gold: Path, lang: str) -> Metrics:
    return metric_fn(spec.metric)(read_pairs(gold)[0], read_pairs(pred)[0], lang)


def _score_qa(spec: TaskSpec, pred: Path, gold: Path, lang: str) -> Metrics:
    g = read_qa_gold(gold)
    p = read_qa_predictions(pred)
    missing = [qid for qid in g if qid not in p]
    if missing:
        raise UserError(
            f"{pred}:1: no answer for {len(missing)} of {len(g)} gold question ids (first: {missing[0]!r}); "
            "write an answer (possibly \"\") for every question"
        )
    try:
        return metric_fn(spec.metric)(g, p, lang)
    except ValueError as exc:
        raise UserError(f"{pred}: {exc}") from None


_BY_METRIC: dict[str, Callable[[TaskSpec, Path, Path, str], Metrics]] = {
    "seqeval_2020": _score_tags,
    "bucc_f1": _score_pairs,
    "squad": _score_qa,
    "mlqa": _score_qa,
}


def score_language(spec: TaskSpec, pred: Path, gold: Path, lang: str) -> Metrics:
    """Metrics of one language file against its gold file (the reader follows the task's metric)."""
    return _BY_METRIC.get(spec.metric, _score_labels)(spec, pred, gold, lang)


# ---------------------------------------------------------------- whole submission


def _task_files(spec: TaskSpec, root: Path, lang: str) -> Path:
    assert spec.submission is not None
    path = root / spec.submission.folder / f"test-{lang}.{spec.submission.ext}"
    if not path.is_file():
        raise UserError(
            f"{path}: missing; task '{spec.name}' needs test-{{lang}}.{spec.submission.ext} for each of its "
            f"languages ({', '.join(spec.languages)})"
        )
    return path


def score_task(spec: TaskSpec, pred_dir: Path, gold_dir: Path) -> dict[str, Any]:
    """{"score", "metrics", "languages"} for one task folder of each submission."""
    languages: dict[str, Metrics] = {}
    for lang in spec.languages:
        gold = _task_files(spec, gold_dir, lang)
        pred = _task_files(spec, pred_dir, lang)
        languages[lang] = score_language(spec, pred, gold, lang)
    return {
        "score": task_score(languages, spec.score_metrics, spec.languages),
        "metrics": mean_over_languages(languages),
        "languages": languages,
    }


def _resolve(suite: Suite | str, specs: Mapping[str, TaskSpec] | None) -> tuple[Suite, dict[str, TaskSpec]]:
    from harness import registry

    if isinstance(suite, str):
        suite = registry.get("suite", suite)
    found = dict(specs or {})
    for name in suite.tasks:
        if name not in found:
            found[name] = registry.task(name)
        if found[name].submission is None:
            raise UserError(f"task '{name}' of suite '{suite.name}' declares no submission layout")
    return suite, found


def score_submission(
    pred_dir: str | Path,
    gold_dir: str | Path,
    suite: Suite | str = "xtreme",
    specs: Mapping[str, TaskSpec] | None = None,
) -> dict[str, Any]:
    """Score every task of `suite` whose folder exists in both directories; JSON-ready result."""
    pred_dir, gold_dir = Path(pred_dir), Path(gold_dir)
    for root in (pred_dir, gold_dir):
        if not root.is_dir():
            raise UserError(f"{root}: not a directory; pass the folder that holds one sub-folder per task")
    suite, specs = _resolve(suite, specs)
    tasks: dict[str, dict[str, Any]] = {}
    for name in suite.tasks:
        spec = specs[name]
        assert spec.submission is not None
        folder = spec.submission.folder
        if (pred_dir / folder).is_dir() and (gold_dir / folder).is_dir():
            tasks[name] = score_task(spec, pred_dir, gold_dir)
    totals = aggregate_suite(suite, {name: result["score"] for name, result in tasks.items()})
    return {"suite": suite.name, "score": totals["score"], "groups": totals["groups"], "tasks": tasks}
