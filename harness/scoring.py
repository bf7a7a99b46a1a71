"""The pure scorer: XTREME submission folders -> per-language metrics and aggregated scores.

Layout (google-research/xtreme README): one folder per task (`spec.submission.folder`) holding
`test-{lang}.{ext}` for every language of the task, read and checked by the task's kind (which owns
the format) and scored by the task's metric, both plugins. Aggregation follows XTREME's `evaluate.py`:
per metric the plain mean over the task's languages; the task score is the mean of its `score_metrics`
((EM + F1) / 2 for QA); a group score only when all its tasks are present; the suite score only when
every task is present, otherwise null: never an average over whatever happens to exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.kinds import get_kind
from harness.metrics import metric
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


def strict_mean(values: Sequence[float | None]) -> float | None:
    """The plain mean; None when `values` is empty or any value is missing (never a mean of what exists)."""
    if not values or any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None) / len(values)


def _rule(suite: Suite, rule: str, tasks: Sequence[str], task_scores: Mapping[str, float | None],
          groups: Mapping[str, float | None]) -> float | None:
    if rule == "mean_of_tasks":
        return strict_mean([task_scores.get(t) for t in tasks])
    if rule == "mean_of_groups":
        return strict_mean(list(groups.values()))
    raise ValueError(f"suite {suite.name}: unknown overall rule {rule!r}")


def aggregate_suite(suite: Suite, task_scores: Mapping[str, float | None]) -> dict[str, Any]:
    """{"score": headline or None, "groups": {group: score or None}, "scores": {name: score or None}} from
    task name -> task score; `scores` holds the suite's labelled scores beside the headline (empty for
    XTREME)."""
    groups = {
        group: strict_mean([task_scores.get(t) for t in tasks]) for group, tasks in suite.groups.items()
    }
    score = _rule(suite, suite.overall, suite.tasks, task_scores, groups)
    extra = {name: _rule(suite, s.rule, s.tasks, task_scores, groups) for name, s in suite.scores.items()}
    return {"score": score, "groups": groups, "scores": extra}


def suite_labels(suite: Suite) -> dict[str, str]:
    """What each reported suite number is, by its JSON field name ("score", then `suite.scores`)."""
    headline = suite.score_label or (
        f"mean of the {len(suite.tasks)} task scores" if suite.overall == "mean_of_tasks"
        else f"mean of the {len(suite.groups)} group scores")
    return {"score": headline, **{name: s.label for name, s in suite.scores.items()}}


# ---------------------------------------------------------------- one language of one task


def score_language(spec: TaskSpec, pred: Path, gold: Path, lang: str) -> Metrics:
    """Metrics of one language file against its gold file: the task's kind reads and checks both files
    (its submission format), the task's metric scores them."""
    kind = get_kind(spec.kind)
    g = kind.read_gold(gold, spec)
    p = kind.read_submission(pred, spec)
    kind.check_submission(spec, p, g)
    try:
        return metric(spec.metric)(g.items, p.items, lang)
    except ValueError as exc:
        raise UserError(f"{pred}: {exc}") from None


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


def _resolve(suite: Suite | str, specs: Mapping[str, TaskSpec] | None
             ) -> tuple[Suite, dict[str, TaskSpec], list[str]]:
    """The suite, the specs of its installed tasks, and the names of its tasks no installed plugin provides
    (scored as missing: their groups and the suite score are null)."""
    from harness import registry

    if isinstance(suite, str):
        suite = registry.get("suite", suite)
    found = dict(specs or {})
    absent = []
    for name in suite.all_tasks:
        if name not in found:
            if registry.entry_point("task", name) is None:
                absent.append(name)
                continue
            found[name] = registry.task(name)
        if found[name].submission is None:
            raise UserError(f"task '{name}' of suite '{suite.name}' declares no submission layout")
    return suite, found, absent


def score_submission(
    pred_dir: str | Path,
    gold_dir: str | Path,
    suite: Suite | str = "xtreme",
    specs: Mapping[str, TaskSpec] | None = None,
) -> dict[str, Any]:
    """Score every task of `suite` whose folder exists in both directories; JSON-ready result.

    `ignored` lists every prediction folder that was not scored, and why (no gold folder for it, or no
    task of the suite uses that folder name); `not_installed` the suite's tasks no installed plugin provides.
    Beside the headline `score`, the suite's labelled scores (`Suite.scores`, e.g. XTREME-R's
    `category_mean` and `score_with_lareqa`) are top-level fields; `labels` says what each number is.
    """
    pred_dir, gold_dir = Path(pred_dir), Path(gold_dir)
    for root in (pred_dir, gold_dir):
        if not root.is_dir():
            raise UserError(f"{root}: not a directory; pass the folder that holds one sub-folder per task")
    suite, specs, absent = _resolve(suite, specs)
    tasks: dict[str, dict[str, Any]] = {}
    ignored: dict[str, str] = {}
    folders = {}
    for name in suite.all_tasks:
        if name in absent:
            continue
        spec = specs[name]
        assert spec.submission is not None
        folders[spec.submission.folder] = name
        if not (pred_dir / spec.submission.folder).is_dir():
            continue
        if (gold_dir / spec.submission.folder).is_dir():
            tasks[name] = score_task(spec, pred_dir, gold_dir)
        else:
            ignored[spec.submission.folder] = f"no gold folder {gold_dir / spec.submission.folder}"
    for extra in sorted(p.name for p in pred_dir.iterdir() if p.is_dir() and p.name not in folders):
        ignored[extra] = (f"no task of suite '{suite.name}' has this folder (its folders: "
                          f"{', '.join(folders)}" + (f"; not installed: {', '.join(absent)}" if absent else "") + ")")
    totals = aggregate_suite(suite, {name: result["score"] for name, result in tasks.items()})
    return {"suite": suite.name, "score": totals["score"], **totals["scores"], "groups": totals["groups"],
            "labels": suite_labels(suite), "tasks": tasks, "ignored": ignored, "not_installed": absent}
