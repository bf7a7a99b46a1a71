"""Leaderboard data (schema v2): read a runs directory, aggregate strictly, compare arms with baselines.

Rows are the experiment's arms, a "best intermediate per target" row (each target's arm chosen on the
dev split, as the paper did; a target without one, Tatoeba, by its proxy task's dev score) and, kept
apart in `references`, published numbers. Columns are the target tasks, the group and suite scores
(strict XTREME rules) and an average over the experiment's targets.
Every number is a mean over seeds with its std and n; deltas are taken against every baseline arm (the
`none` arm and each arm run by a baseline plugin), with a noise flag (see harness.report.aggregate).
Strict: a cell is null unless every planned stage behind it is done and every language has a score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from harness import registry
from harness.errors import UserError
from harness.experiment import NONE_ARM
from harness.layout import ENCODER_DIR, EXPERIMENT_JSON, METRICS_JSON, MODEL_DIR, STAGE_JSON
from harness.report.aggregate import NOISE_RULE, delta, over_seeds, row_aggregates
from harness.report.models import (
    ArmRow,
    Cell,
    Deltas,
    Environment,
    Experiment,
    Leaderboard,
    Progress,
    Row,
    SelectedRow,
    SelectionRule,
    SuiteDeltas,
    SuiteInfo,
    Synthetic,
    TaskInfo,
    TransferGap,
    WorstLanguage,
)
from harness.report.robustness import robustness
from harness.scoring import strict_mean, suite_labels
from harness.store import is_done, read_json

BEST_ROW = "best intermediate per target"
SOURCE_LANG = "en"  # the zero-shot source language the transfer gap is measured from
R = TypeVar("R", bound=Row)


def _record(runs_dir: Path, allow_mixed: bool) -> dict:
    path = runs_dir / EXPERIMENT_JSON
    if not path.exists():
        raise UserError(f"{runs_dir} has no {EXPERIMENT_JSON}; point at the --output directory of `xstilts run`")
    record = read_json(path)
    seen = record.get("experiments_seen") or [record["experiment"]["name"]]
    if len(seen) > 1 and not allow_mixed:
        raise UserError(f"{runs_dir} holds stages of several experiments ({', '.join(seen)}); use one runs "
                        "directory per experiment or pass --allow-mixed")
    return record


def _evaluations(runs_dir: Path, record: dict) -> list[dict]:
    """Each planned evaluate stage with its metrics (None when not done).

    A done stage whose metrics.json does not read back is a UserError naming the file: `xstilts run` runs
    that stage again (a silently missing cell would look like a stage never run)."""
    out = []
    for stage in record["stages"]:
        if stage["kind"] != "evaluate":
            continue
        stage_dir = runs_dir / stage["key"]
        try:
            metrics = read_json(stage_dir / METRICS_JSON) if is_done(stage_dir) else None
        except (OSError, ValueError) as exc:
            why = str(exc) if isinstance(exc, UserError) else f"{stage_dir / METRICS_JSON} is unreadable ({exc})"
            raise UserError(f"{why}; `xstilts run` on this experiment recomputes stage {stage['key']}, then "
                            "build the leaderboard again") from None
        out.append({**stage["meta"], "key": stage["key"], "metrics": metrics})
    return out


def _split(e: dict, split: str) -> dict | None:
    return ((e["metrics"] or {}).get("splits") or {}).get(split)


def cell(evals: list[dict], split: str, languages: list[str], seeds: list[str],
         score_metrics: Sequence[str] = (), metric: str | None = None) -> Cell:
    """One (arm, task) cell: the task score over seeds, the dev score over seeds, per-language means, and
    the transfer gap and worst language from each language's task score (the mean of `score_metrics`). With
    `metric`, that one metric stands in for the task score: per seed, its strict mean over `languages`."""
    by_seed = {str(e["seed"]): e for e in evals}

    def split_score(s: str, name: str) -> float | None:
        found = _split(by_seed[s], name) if s in by_seed else None
        if metric is None or found is None:
            return (found or {}).get("score")
        per_lang = found.get("languages") or {}
        return strict_mean([(per_lang.get(lang) or {}).get(metric) for lang in languages])

    if metric is not None:
        score_metrics = (metric,)
    scores = {s: split_score(s, split) for s in seeds}
    dev = {s: split_score(s, "dev") for s in seeds}
    per_lang: dict[str, dict[str, float] | None] = {}
    lang_scores: dict[str, dict[str, float | None]] = {s: {} for s in seeds}
    for lang in languages:
        found = [((_split(by_seed[s], split) or {}).get("languages") or {}).get(lang) if s in by_seed else None
                 for s in seeds]
        for s, m in zip(seeds, found, strict=True):
            lang_scores[s][lang] = _language_score(m, score_metrics)
        if any(m is None for m in found):
            per_lang[lang] = None
            continue
        names = set.intersection(*(set(m) for m in found))  # type: ignore[arg-type]
        per_lang[lang] = {n: sum(m[n] for m in found) / len(found) for n in sorted(names)}  # type: ignore[index]
    return Cell(**dict(over_seeds(scores)), dev=over_seeds(dev), languages=per_lang,
                transfer_gap=transfer_gap(lang_scores, languages),
                worst_language=worst_language(lang_scores, languages))


def _language_score(metrics: dict | None, score_metrics: Sequence[str]) -> float | None:
    """One language's task score: the mean of the task's score metrics (None when one is missing)."""
    if not metrics or not score_metrics or any(metrics.get(n) is None for n in score_metrics):
        return None
    return sum(metrics[n] for n in score_metrics) / len(score_metrics)


def transfer_gap(lang_scores: Mapping[str, Mapping[str, float | None]], languages: list[str]) -> TransferGap:
    """Per seed, the English task score minus the mean of the other languages' (strict), then over seeds.

    Undefined (every value null, with a `note`) when the grid evaluates no English for the task (BUCC and
    Tatoeba score xx-en pairs) or no language besides English."""
    note = None
    if SOURCE_LANG not in languages:
        note = f"no {SOURCE_LANG} score among the evaluated languages"
    elif len(languages) < 2:
        note = f"no language other than {SOURCE_LANG} in this grid"
    others = [lang for lang in languages if lang != SOURCE_LANG]
    per_seed: dict[str, float | None] = {}
    for s, by_lang in lang_scores.items():
        source, rest = by_lang.get(SOURCE_LANG), strict_mean([by_lang.get(lang) for lang in others])
        per_seed[s] = None if note or source is None or rest is None else source - rest
    return TransferGap(**dict(over_seeds(per_seed)), note=note)


def worst_language(lang_scores: Mapping[str, Mapping[str, float | None]],
                   languages: list[str]) -> WorstLanguage | None:
    """The language with the lowest mean score over seeds (ties: the first in grid order); None unless every
    language has a score for every seed."""
    means = {lang: strict_mean([by_lang.get(lang) for by_lang in lang_scores.values()]) for lang in languages}
    if not means or any(v is None for v in means.values()):
        return None
    lang = min(means, key=lambda k: means[k])  # type: ignore[arg-type,return-value]
    return WorstLanguage(language=lang, score=means[lang])  # type: ignore[arg-type]


def _role(arm: dict) -> str:
    if arm["name"] == NONE_ARM:
        return "none"
    return "baseline" if arm.get("baseline") else "intermediate"


def _row(row_type: type[R], name: str, role: str, cells: dict[str, Cell], seeds: list[str], tasks: list[str],
         suites: list, **extra: Any) -> R:
    per_seed = {s: {t: cells[t].seeds.get(s) for t in tasks} for s in seeds}
    aggregates = row_aggregates(per_seed, tasks, suites)
    return row_type(arm=name, role=role, tasks=cells, **aggregates,
                    robustness=robustness(cells, aggregates["average"], tasks), **extra)


def _deltas(row: Row, base: Row, tasks: list[str]) -> Deltas:
    return Deltas(
        tasks={t: delta(row.tasks[t], base.tasks[t]) for t in tasks},
        average=delta(row.average, base.average),
        suites={
            name: SuiteDeltas(score=delta(s.score, base.suites[name].score),
                              groups={g: delta(v, base.suites[name].groups[g]) for g, v in s.groups.items()},
                              scores={n: delta(v, base.suites[name].scores[n]) for n, v in s.scores.items()})
            for name, s in row.suites.items()
        },
    )


def selection_rule(task: str, tasks: list[str]) -> SelectionRule:
    """`by`: the task whose dev score picks `task`'s arm (None: no selection possible); `rule`: in words.

    A task without a dev split (Tatoeba) is selected by the first of its `selection_proxy` tasks in the
    grid (BUCC dev F1 of the same encoder); never by a test score.
    """
    spec = registry.task(task)
    if spec.dev is not None:
        return SelectionRule(by=task, rule="best dev score")
    proxy = next((p for p in spec.selection_proxy if p in tasks), None)
    if proxy is None:
        return SelectionRule(by=None, rule=f"{task} has no dev split and no proxy task in this grid: not selected")
    return SelectionRule(by=proxy,
                         rule=f"{task} has no dev split: best {proxy} dev score of the same encoder (proxy)")


def _best_row(rows: list[ArmRow], tasks: list[str], seeds: list[str], suites: list) -> SelectedRow | None:
    """For each target, the intermediate arm with the best dev score (ties: the first arm); a target
    without a dev split goes by its proxy task's dev score (see `selection_rule`)."""
    candidates = [r for r in rows if r.role == "intermediate"]
    if not candidates:
        return None
    rules = {t: selection_rule(t, tasks) for t in tasks}
    selected: dict[str, str | None] = {}
    cells = {}
    for t in tasks:
        by = rules[t].by
        scored = [r for r in candidates if by is not None and r.tasks[by].dev.score is not None]
        best = max(scored, key=lambda r: r.tasks[by].dev.score) if scored and len(scored) == len(
            candidates) else None
        selected[t] = best.arm if best else None
        if best:
            cells[t] = best.tasks[t]
        else:  # nothing chosen: the arms' note on the transfer gap still holds
            cells[t] = cell([], "test", [], seeds)
            cells[t].transfer_gap.note = candidates[0].tasks[t].transfer_gap.note
    return _row(SelectedRow, BEST_ROW, "selected", cells, seeds, tasks, suites, selection="dev",
                label=f"{BEST_ROW} (selected on dev)", selected=selected, selection_rules=rules)


def build(runs_dir: Path, split: str = "test", allow_mixed: bool = False,
          references: list | None = None, metric: str | None = None) -> dict[str, Any]:
    """The leaderboard of a runs directory as the JSON-ready dump of a `Leaderboard` (harness.report.models);
    `metric` (e.g. "f1") fills every cell with that metric instead of each task's score (no suite scores)."""
    from harness.report.references import load_references, reference_rows

    record = _record(runs_dir, allow_mixed)
    exp = record["experiment"]
    evals = _evaluations(runs_dir, record)
    tasks = list(dict.fromkeys(t["task"] for t in exp["targets"]))
    langs = {t: list(next(e["languages"] for e in evals if e["task"] == t)) for t in tasks}
    seeds = [str(s) for s in exp["seeds"]]
    suites = [] if metric else [registry.get("suite", n) for n in registry.names("suite")
                                if any(t in registry.get("suite", n).all_tasks for t in tasks)]
    rows = []
    for arm in exp["arms"]:
        cells = {t: cell([e for e in evals if e["arm"] == arm["name"] and e["task"] == t], split, langs[t], seeds,
                         registry.task(t).score_metrics, metric)
                 for t in tasks}
        rows.append(_row(ArmRow, arm["name"], _role(arm), cells, seeds, tasks, suites,
                         baseline=arm.get("baseline"), intermediate_tasks=list(arm.get("tasks", []))))
    best = _best_row(rows, tasks, seeds, suites)
    baselines = [r.arm for r in rows if r.role in ("none", "baseline")]
    by_name = {r.arm: r for r in rows}
    for row in rows + ([best] if best else []):
        row.deltas = {b: _deltas(row, by_name[b], tasks) for b in baselines if b != row.arm}
    refs = load_references() if references is None else references
    stage_records = finished_stage_records(runs_dir, record)
    return Leaderboard(
        experiment=Experiment(name=exp["name"], model=exp["model"], seeds=exp["seeds"],
                              description=exp.get("description", ""),
                              experiments_seen=record.get("experiments_seen") or [exp["name"]]),
        synthetic=synthetic(runs_dir, record, stage_records),
        split=split,
        metric=metric,
        tasks={t: _task_info(t, langs[t]) for t in tasks},
        suites={s.name: SuiteInfo(tasks=list(s.tasks), groups={g: list(v) for g, v in s.groups.items()},
                                  overall=s.overall, extra_tasks=list(s.extra_tasks), labels=suite_labels(s))
                for s in suites},
        baselines=baselines,
        noise=NOISE_RULE,
        arms=rows,
        best_per_target=best,
        references=reference_rows(refs, tasks),
        progress=_progress(runs_dir, evals),
        environment=_environment(stage_records),
    ).model_dump(mode="json")


def _task_info(name: str, languages: list[str]) -> TaskInfo:
    spec = registry.task(name)
    return TaskInfo(languages=languages, metric=spec.metric, score="+".join(spec.score_metrics), kind=spec.kind,
                    note=spec.note or None)


def finished_stage_records(runs_dir: Path, record: dict) -> list[dict]:
    """The stage.json of every finished stage of the plan, each stage once (the plan lists a stage shared by
    several arms once per use)."""
    out = []
    for key in dict.fromkeys(stage["key"] for stage in record["stages"]):
        stage_json = runs_dir / key / STAGE_JSON
        if is_done(runs_dir / key) and stage_json.exists():
            out.append(read_json(stage_json))
    return out


def _environment(stage_records: list[dict]) -> Environment:
    """Runtime environment and data revisions recorded by the finished stages."""
    env, revisions = None, {}
    for data in stage_records:
        env = env or data.get("environment")
        for d in data.get("data", []):
            if d.get("source") == "hf":
                revisions[f"{d['repo']}:{d['config']}"] = d["revision"]
    return Environment(runtime=env, data_revisions=dict(sorted(revisions.items())))


def _progress(runs_dir: Path, evals: list[dict]) -> Progress:
    """Evaluate stages counted once each (one stage can fill the cells of several arms), and the finished
    evaluate stages of the runs directory that the plan does not use."""
    done = {e["key"] for e in evals if e["metrics"] is not None}
    planned = {e["key"] for e in evals}
    outside = 0
    for stage_dir in sorted(p for p in runs_dir.iterdir() if p.is_dir() and p.name not in planned):
        if is_done(stage_dir) and (stage_dir / STAGE_JSON).exists():
            try:
                outside += read_json(stage_dir / STAGE_JSON).get("kind") == "evaluate"
            except (OSError, ValueError):
                continue
    return Progress(evaluations_done=len(done), evaluations_planned=len(planned), evaluation_cells=len(evals),
                    evaluations_outside_plan=outside)


def _data_records(records: list) -> list[dict]:
    """Provenance records, with the parts of concatenated splits flattened."""
    out = []
    for d in records:
        if isinstance(d, dict):
            out += _data_records(d["parts"]) if isinstance(d.get("parts"), list) else [d]
    return out


def synthetic(runs_dir: Path, record: dict, stage_records: list[dict]) -> Synthetic:
    """Whether the numbers come from generated fixtures.

    data: a finished stage's stage.json provenance records a load of a synthetic snapshot (`synthetic: true`,
    written by harness.data.load; a record from before that key is judged by its snapshot's README marker).
    model: the experiment's model directory is the fixture model (harness.offline.is_fixture_model); when
    that directory is not here, the encoders saved in the runs directory carry the same mark.
    """
    from harness.data.snapshot import is_synthetic
    from harness.offline import is_fixture_model

    loads = synthetic_loads = 0
    snapshots: set[str] = set()
    for stage_record in stage_records:
        for d in _data_records(stage_record.get("data") or []):
            loads += 1
            flag = d.get("synthetic")
            if flag is None and d.get("snapshot"):
                flag = is_synthetic(Path(d["snapshot"]))
            if flag is True:
                synthetic_loads += 1
                snapshots.add(str(d.get("snapshot") or d.get("repo")))
    why = []
    if synthetic_loads:
        why.append(f"data: {synthetic_loads} of {loads} data loads recorded in stage.json read synthetic "
                   f"snapshots ({', '.join(sorted(snapshots))})")
    model = record["experiment"]["model"]
    path = Path(model).expanduser()
    fixture = None
    if path.is_dir():
        fixture = path if is_fixture_model(path) else None
    else:
        candidates = (runs_dir / s["key"] / sub for s in record["stages"] for sub in (ENCODER_DIR,
                                                                                     f"{MODEL_DIR}/{ENCODER_DIR}"))
        fixture = next((c for c in candidates if is_fixture_model(c)), None)
    if fixture is not None:
        why.append(f"model: {fixture} is the generated tiny random XLM-R (harness.offline), not a pretrained "
                   "encoder")
    return Synthetic(data=bool(synthetic_loads), model=fixture is not None, why=why)
