"""Leaderboard data: read a runs directory, aggregate strictly, compare arms with the `none` arm.

Strict means: a cell is computed only when every planned stage behind it is done and every language
has a score; otherwise it is null (JSON) / n/a (markdown). No average is taken over what happens to exist.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from harness import registry
from harness.errors import UserError
from harness.execute import EXPERIMENT_JSON
from harness.experiment import NONE_ARM
from harness.store import METRICS_JSON, STAGE_JSON, is_done, read_json

SCHEMA_VERSION = 1


def _mean(values: list[float | None]) -> float | None:
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)  # type: ignore[arg-type]


def _std(values: list[float | None]) -> float | None:
    if len(values) < 2 or any(v is None for v in values):
        return None
    return statistics.stdev(values)  # type: ignore[arg-type]


def _evaluations(runs_dir: Path, record: dict) -> list[dict]:
    """Each planned evaluate stage with its metrics (None when not done)."""
    out = []
    for stage in record["stages"]:
        if stage["kind"] != "evaluate":
            continue
        stage_dir = runs_dir / stage["key"]
        metrics = read_json(stage_dir / METRICS_JSON) if is_done(stage_dir) else None
        out.append({**stage["meta"], "key": stage["key"], "metrics": metrics})
    return out


def _cell(evals: list[dict], split: str, languages: list[str]) -> dict[str, Any]:
    """One (arm, task) cell: score per seed, mean/std, and per-language metric means over seeds."""
    seeds: dict[str, float | None] = {}
    per_lang: dict[str, dict[str, list[float]]] = {}
    complete = True
    for e in sorted(evals, key=lambda e: e["seed"]):
        split_metrics = (e["metrics"] or {}).get("splits", {}).get(split)
        seeds[str(e["seed"])] = split_metrics["score"] if split_metrics else None
        for lang in languages:
            m = (split_metrics or {}).get("languages", {}).get(lang)
            if m is None:
                complete = False
                continue
            for name, value in m.items():
                per_lang.setdefault(lang, {}).setdefault(name, []).append(value)
    values = list(seeds.values())
    n = len(values)
    languages_out = {
        lang: ({name: (sum(v) / len(v) if complete and len(v) == n else None) for name, v in ms.items()}
               if lang in per_lang else None)
        for lang, ms in ((lang, per_lang.get(lang, {})) for lang in languages)
    }
    return {"score": _mean(values), "std": _std(values), "n_seeds": sum(v is not None for v in values),
            "seeds": seeds, "languages": languages_out}


def build(runs_dir: Path, split: str = "test") -> dict[str, Any]:
    """The leaderboard of a runs directory as a JSON-ready dict."""
    path = runs_dir / EXPERIMENT_JSON
    if not path.exists():
        raise UserError(f"{runs_dir} has no {EXPERIMENT_JSON}; point at the --output directory of `xstilts run`")
    record = read_json(path)
    exp = record["experiment"]
    evals = _evaluations(runs_dir, record)
    arms = [a["name"] for a in exp["arms"]]
    tasks = list(dict.fromkeys(t["task"] for t in exp["targets"]))
    langs = {t: list(next(e["languages"] for e in evals if e["task"] == t)) for t in tasks}
    rows = []
    for arm in arms:
        cells = {t: _cell([e for e in evals if e["arm"] == arm and e["task"] == t], split, langs[t]) for t in tasks}
        rows.append({"arm": arm, "tasks": cells, "average": _mean([c["score"] for c in cells.values()])})
    base = next((r for r in rows if r["arm"] == NONE_ARM), None)
    for row in rows:
        row["delta_vs_none"] = _deltas(row, base, tasks) if base else None
        row["suites"] = _suites(row, tasks)
    done = sum(1 for e in evals if e["metrics"] is not None)
    return {
        "schema_version": SCHEMA_VERSION,
        "experiment": {"name": exp["name"], "model": exp["model"], "seeds": exp["seeds"],
                       "description": exp.get("description", "")},
        "split": split,
        "tasks": {t: {"languages": langs[t], **_task_info(t)} for t in tasks},
        "arms": rows,
        "progress": {"evaluations_done": done, "evaluations_planned": len(evals)},
        "environment": _environment(runs_dir, evals),
    }


def _task_info(name: str) -> dict[str, Any]:
    spec = registry.task(name)
    return {"metric": spec.metric, "score": "+".join(spec.score_metrics), "kind": spec.kind}


def _deltas(row: dict, base: dict, tasks: list[str]) -> dict[str, float | None]:
    out = {}
    for t in tasks + ["average"]:
        a = row["average"] if t == "average" else row["tasks"][t]["score"]
        b = base["average"] if t == "average" else base["tasks"][t]["score"]
        out[t] = None if a is None or b is None else a - b
    return out


def _suites(row: dict, tasks: list[str]) -> dict[str, Any]:
    from harness.scoring import aggregate_suite

    out = {}
    for name in registry.names("suite"):
        suite = registry.get("suite", name)
        if any(t in suite.tasks for t in tasks):
            scores = {t: row["tasks"][t]["score"] for t in tasks if t in suite.tasks}
            out[name] = aggregate_suite(suite, scores)
    return out


def _environment(runs_dir: Path, evals: list[dict]) -> dict[str, Any]:
    """Environment and data revisions recorded by the finished stages."""
    env, revisions = None, {}
    for e in evals:
        stage_json = runs_dir / e["key"] / STAGE_JSON
        if e["metrics"] is None or not stage_json.exists():
            continue
        record = read_json(stage_json)
        env = env or record.get("environment")
        for d in record.get("data", []):
            if d.get("source") == "hf":
                revisions[f"{d['repo']}:{d['config']}"] = d["revision"]
    return {"runtime": env, "data_revisions": dict(sorted(revisions.items()))}
