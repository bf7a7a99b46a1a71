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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from harness import registry
from harness.errors import UserError, did_you_mean, validated
from harness.report.models import ReferenceRow, ReferenceSuite, ReferenceTask
from harness.scoring import aggregate_suite, task_score


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


class Result(BaseModel):
    """One entry of `results`."""

    model_config = ConfigDict(extra="forbid")

    task: str
    """A task plugin or a suite's task."""
    metric: str
    """One of the task's score metrics."""
    value: float = Field(ge=0, le=100, strict=True)
    """In percent."""
    split: str = "test"
    """The split (default: the file's)."""
    source: str = Field(min_length=1)
    """The citation (default: the file's)."""

    @field_validator("task")
    @classmethod
    def _known(cls, task: str) -> str:
        known = _known_tasks()
        if task not in known:
            raise PydanticCustomError("unknown_task", f"unknown task '{task}'{did_you_mean(task, known)}")
        return task

    @field_validator("metric")
    @classmethod
    def _score_metric(cls, metric: str, info: ValidationInfo) -> str:
        task = info.data.get("task")
        if task in registry.names("task") and metric not in (allowed := registry.task(task).score_metrics):
            raise PydanticCustomError(
                "metric", f"'{metric}' is not a score metric of {task}{did_you_mean(metric, allowed)}")
        return metric

    @field_validator("value")
    @classmethod
    def _percent(cls, value: float) -> float:
        if 0 < value <= 1:
            raise PydanticCustomError("fraction", f"{value} looks like a 0-1 fraction, but references are in "
                                                  f"percent (write {value * 100:g})")
        return value


class ReferenceFile(BaseModel):
    """A reference file; `split` and `source` are defaults for every result."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    """The published model."""
    split: str = "test"
    """Default split of the results."""
    scale: Literal["percent"] = "percent"
    """Values are in percent (0-100)."""
    source: str | None = None
    """Default citation of the results."""
    results: list[Result]
    """The published numbers."""

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """Each result takes the file's split and source unless it names its own."""
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            defaults = {k: data[k] for k in ("split", "source") if k in data}
            data = {**data, "results": [{**defaults, **r} if isinstance(r, dict) else r for r in data["results"]]}
        return data


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
    """Validate one reference file; every problem is a one-line UserError naming the file and field."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"{path}: cannot read reference file ({type(exc).__name__}); fix the YAML") from None
    file = validated(ReferenceFile, raw, str(path))
    return [Reference(file.model, r.task, r.metric, r.value, r.split, " ".join(r.source.split()), str(path))
            for r in file.results]


def load_references(paths: list[Path] | None = None) -> list[Reference]:
    """All references from `paths` (default: the shipped files)."""
    return [r for path in (reference_files() if paths is None else paths) for r in load_file(Path(path))]


def reference_rows(refs: list[Reference], tasks: list[str]) -> list[ReferenceRow]:
    """One row per model: task scores from the published metrics (QA: (EM + F1) / 2), strict per task, with
    the languages each averages (the task's full official list)."""
    rows = []
    for model in dict.fromkeys(r.model for r in refs):
        mine = [r for r in refs if r.model == model]
        metrics: dict[str, dict[str, float]] = {}
        for r in mine:
            metrics.setdefault(r.task, {})[r.metric] = r.value
        # Published metrics are already averaged over languages: one pseudo-language for task_score.
        scores = {t: task_score({"published": m}, _score_metrics(t, m)) for t, m in metrics.items()}
        suites = {}
        for name in registry.names("suite"):
            suite = registry.get("suite", name)
            if any(t in suite.tasks for t in tasks):
                suites[name] = ReferenceSuite(**aggregate_suite(suite, scores))
        rows.append(ReferenceRow(
            model=model,
            split=mine[0].split,
            sources=sorted({r.source for r in mine}),
            tasks={t: ReferenceTask(score=scores.get(t), metrics=metrics[t], languages=_official_languages(t))
                   if t in metrics else None for t in tasks},
            suites=suites,
        ))
    return rows


def _official_languages(task: str) -> list[str] | None:
    """The languages a published score averages: the task's full official list (None without a plugin)."""
    return list(registry.task(task).languages) if task in registry.names("task") else None


def _score_metrics(task: str, metrics: dict[str, float]) -> tuple[str, ...]:
    """The task's score metrics; for a suite task without a plugin, every published metric."""
    return registry.task(task).score_metrics if task in registry.names("task") else tuple(metrics)
