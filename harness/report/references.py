"""Published reference numbers: YAML files (model, task, metric, value, split, source), validated.

Files come from packages registered in the entry point group `xstilts.references` (every *.yaml beside
the package's module) or from explicit paths. Reference rows are shown apart from computed rows: their
values never enter an arm's average, a delta or the best-per-target selection.

```yaml
model: XLM-R Large
split: test            # default for every result
scale: percent         # the only scale accepted
source: "citation"     # default for every result; a result may name its own
results:
  - {task: xnli, metric: accuracy, value: 79.2}
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import registry
from harness.errors import UserError, did_you_mean


@dataclass(frozen=True)
class Reference:
    """One published number."""

    model: str
    task: str
    metric: str
    value: float
    split: str
    source: str
    file: str


def reference_files() -> list[Path]:
    """Every *.yaml shipped by the packages registered under `xstilts.references`, sorted."""
    files: list[Path] = []
    for name in registry.names("reference"):
        module = registry.get("reference", name)
        files += sorted(Path(module.__file__).parent.glob("*.yaml"))
    return files


def _known_tasks() -> list[str]:
    names = set(registry.names("task"))
    for suite in registry.names("suite"):
        names |= set(registry.get("suite", suite).tasks)
    return sorted(names)


def load_file(path: Path) -> list[Reference]:
    """Validate one reference file; every problem is a one-line UserError naming the file and entry."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"{path}: cannot read reference file ({type(exc).__name__}); fix the YAML") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("results"), list) or not raw.get("model"):
        raise UserError(f"{path}: expected a mapping with `model` and a `results` list")
    if raw.get("scale", "percent") != "percent":
        raise UserError(f"{path}: scale: only 'percent' is supported; convert the values to 0-100")
    known = _known_tasks()
    out = []
    for i, entry in enumerate(raw["results"]):
        loc = f"{path}: results[{i}]"
        if not isinstance(entry, dict) or not {"task", "metric", "value"} <= set(entry):
            raise UserError(f"{loc}: each result needs task, metric and value")
        task, metric, value = str(entry["task"]), str(entry["metric"]), entry["value"]
        if task not in known:
            raise UserError(f"{loc}.task: unknown task '{task}'{did_you_mean(task, known)}")
        _check_metric(task, metric, loc)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 100:
            raise UserError(f"{loc}.value: {value!r} is not a percentage in [0, 100]")
        if 0 < value <= 1:
            raise UserError(f"{loc}.value: {value} looks like a 0-1 fraction, but references are in percent "
                            f"(write {value * 100:g})")
        source = entry.get("source") or raw.get("source")
        if not source:
            raise UserError(f"{loc}: no source; cite where the number comes from")
        out.append(Reference(str(raw["model"]), task, metric, float(value), str(entry.get("split") or
                             raw.get("split") or "test"), " ".join(str(source).split()), str(path)))
    return out


def _check_metric(task: str, metric: str, loc: str) -> None:
    if task not in registry.names("task"):
        return
    allowed = list(registry.task(task).score_metrics)
    if metric not in allowed:
        raise UserError(f"{loc}.metric: '{metric}' is not a score metric of {task}{did_you_mean(metric, allowed)}")


def load_references(paths: list[Path] | None = None) -> list[Reference]:
    """All references from `paths` (default: the shipped files)."""
    return [r for path in (reference_files() if paths is None else paths) for r in load_file(Path(path))]


def reference_rows(refs: list[Reference], tasks: list[str]) -> list[dict[str, Any]]:
    """One row per model: task scores from the published metrics (QA: (EM + F1) / 2), strict per task."""
    from harness.scoring import aggregate_suite

    models = list(dict.fromkeys(r.model for r in refs))
    rows = []
    for model in models:
        mine = [r for r in refs if r.model == model]
        metrics: dict[str, dict[str, float]] = {}
        for r in mine:
            metrics.setdefault(r.task, {})[r.metric] = r.value
        scores = {t: _score(t, m) for t, m in metrics.items()}
        suites = {}
        for name in registry.names("suite"):
            suite = registry.get("suite", name)
            if any(t in suite.tasks for t in tasks):
                suites[name] = aggregate_suite(suite, scores)
        rows.append({
            "model": model,
            "split": mine[0].split,
            "sources": sorted({r.source for r in mine}),
            "tasks": {t: ({"score": scores.get(t), "metrics": metrics[t]} if t in metrics else None) for t in tasks},
            "suites": suites,
        })
    return rows


def _score(task: str, metrics: dict[str, float]) -> float | None:
    names = registry.task(task).score_metrics if task in registry.names("task") else tuple(metrics)
    if any(n not in metrics for n in names):
        return None
    return sum(metrics[n] for n in names) / len(names)
