"""leaderboard.json as pydantic models: the one source of its shape (and of leaderboard.schema.json).

Scores are in percent; null means not computed for every seed and language (strict).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Record(BaseModel):
    """Closed records; field docstrings are the schema's descriptions; defaults are always written."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True,
                              json_schema_serialization_defaults_required=True)


class Stat(Record):
    """A statistic over seeds."""

    score: float | None
    """Mean over the planned seeds; null unless every seed has a value."""
    std: float | None
    """Sample standard deviation over seeds; null with fewer than two values or any missing."""
    n_seeds: int = Field(ge=0)
    """Seeds with a value."""
    seeds: dict[str, float | None]
    """The value of each planned seed."""


class TransferGap(Stat):
    """English minus the mean of the task's other languages of the grid, in points, per seed then over seeds."""

    note: str | None = None
    """Why the gap cannot exist for this task in this grid (no English score, no other language); else null."""


class WorstLanguage(Record):
    """The language with the lowest task score (mean over seeds)."""

    language: str
    """Language code."""
    score: float
    """Its task score (the mean of the task's score metrics), mean over seeds."""


class Cell(Stat):
    """One (arm, target task) cell: the test (or chosen split) score over seeds."""

    dev: Stat
    """The dev score over seeds (what selection goes by)."""
    languages: dict[str, dict[str, float] | None]
    """Per language, each metric's mean over seeds; null unless every seed has the language."""
    transfer_gap: TransferGap = TransferGap(score=None, std=None, n_seeds=0, seeds={})
    """English task score minus the mean of the other languages' (XTREME-R transfer gap); lower is better."""
    worst_language: WorstLanguage | None = None
    """The lowest-scoring language; null unless every language has a score for every seed."""


class Delta(Record):
    """A difference between two statistics with its noise flag."""

    delta: float | None
    """Mean of this row minus mean of the baseline; null when either is null."""
    within_noise: bool | None
    """Whether the delta is within the seed spread (see `noise`); null with fewer than two seeds."""


class SuiteStats(Record):
    """A suite's score and group scores (strict XTREME rules)."""

    score: Stat
    """The suite score over seeds."""
    groups: dict[str, Stat]
    """Each group's score over seeds."""
    scores: dict[str, Stat] = {}
    """The suite's labelled scores beside the headline (XTREME-R: `category_mean`, `score_with_lareqa`;
    what each is: `suites[...].labels`), over seeds."""


class SuiteDeltas(Record):
    """Deltas of a suite's score and group scores."""

    score: Delta
    """Delta of the suite score."""
    groups: dict[str, Delta]
    """Delta of each group score."""
    scores: dict[str, Delta] = {}
    """Delta of each labelled score beside the headline."""


class Deltas(Record):
    """Every number of a row minus the same number of one baseline row."""

    tasks: dict[str, Delta]
    """Per target task."""
    average: Delta
    """Of the average over the grid's targets."""
    suites: dict[str, SuiteDeltas]
    """Per suite."""


class SeedSpread(Record):
    """How much a score moves with the seed."""

    std: float | None
    """Sample standard deviation over seeds; null with fewer than two seeds or any missing."""
    range: float | None
    """Max minus min over seeds, in points; null with fewer than two seeds or any missing."""
    seeds: dict[str, float | None]
    """The value of each planned seed."""


class TaskRobustness(Record):
    """One target's robustness numbers in a row."""

    worst_language: WorstLanguage | None
    """The lowest-scoring language and its score (the cell's `worst_language`); null unless complete."""
    spread: SeedSpread
    """The seed spread of the task score."""


class Robustness(Record):
    """A row's robustness at a glance: worst languages and seed spread."""

    tasks: dict[str, TaskRobustness]
    """Per target task."""
    worst_language_mean: float | None
    """Mean of the targets' worst-language scores; null unless every target of the grid has one."""
    average: SeedSpread
    """The seed spread of the row's average over the grid's targets."""


class Row(Record):
    """A computed row of the leaderboard."""

    arm: str
    """Arm name (or the best row's name)."""
    role: Literal["none", "intermediate", "baseline", "selected"]
    """What the row is: the `none` arm, an intermediate arm, a baseline plugin's arm, or the best row."""
    tasks: dict[str, Cell]
    """Per target task."""
    average: Stat
    """Mean over the grid's target tasks, per seed then over seeds."""
    suites: dict[str, SuiteStats]
    """Per suite the grid touches."""
    deltas: dict[str, Deltas] = {}
    """Against each baseline arm other than this one."""
    robustness: Robustness = Robustness(tasks={}, worst_language_mean=None,
                                        average=SeedSpread(std=None, range=None, seeds={}))
    """Worst language per target and their mean, seed spread per target and of the average."""


class ArmRow(Row):
    """An arm of the experiment."""

    baseline: str | None
    """The baseline plugin that runs the arm, if any."""
    intermediate_tasks: list[str]
    """The arm's intermediate tasks."""


class SelectionRule(Record):
    """How a target's arm is chosen for the best row."""

    by: str | None
    """The task whose dev score chooses (null: no choice possible)."""
    rule: str
    """The rule in words."""


class SelectedRow(Row):
    """The best intermediate arm per target, selected on dev."""

    selection: Literal["dev"]
    """The split selection goes by (never test)."""
    label: str
    """Row label in the Markdown report."""
    selected: dict[str, str | None]
    """Per target, the chosen arm (null: none could be chosen)."""
    selection_rules: dict[str, SelectionRule]
    """Per target, the rule that chose."""


class ReferenceTask(Record):
    """A published task result."""

    score: float | None
    """The task score from the published metrics (null when one of its score metrics is missing)."""
    metrics: dict[str, float]
    """Published metric values."""
    languages: list[str] | None
    """The languages the published score averages: the task's full official list, which the grid's own
    rows may cover only in part (null: not known, a suite task without a plugin)."""


class ReferenceSuite(Record):
    """A suite's score and group scores from published task scores."""

    score: float | None
    """The suite score (null unless every task is published)."""
    groups: dict[str, float | None]
    """Each group's score."""
    scores: dict[str, float | None] = {}
    """The suite's labelled scores beside the headline (null unless complete)."""


class ReferenceRow(Record):
    """Published numbers of one model, shown apart: never in an average, a delta or a selection."""

    model: str
    """The published model."""
    split: str
    """The split the numbers are on."""
    sources: list[str] = Field(min_length=1)
    """Citations."""
    tasks: dict[str, ReferenceTask | None]
    """Per target task (null: not published)."""
    suites: dict[str, ReferenceSuite]
    """Per suite the grid touches."""


class Experiment(Record):
    """The experiment behind the runs directory."""

    name: str
    """Experiment name."""
    model: str
    """The pretrained encoder."""
    seeds: list[int] = Field(min_length=1)
    """Planned seeds."""
    description: str
    """Free text from the experiment file."""
    experiments_seen: list[str]
    """Every experiment that wrote into the runs directory."""


class TaskInfo(Record):
    """A target task."""

    languages: list[str]
    """Evaluated languages."""
    metric: str
    """The task's metric."""
    score: str
    """The metrics its score averages, joined by '+'."""
    kind: str
    """Task kind."""
    note: str | None = None
    """The task's note for readers of its results (e.g. which split its test column is); null: none."""


class SuiteInfo(Record):
    """A suite the grid touches."""

    tasks: list[str]
    """Its tasks."""
    groups: dict[str, list[str]]
    """Its groups and their tasks."""
    overall: str
    """How the suite score is formed."""
    extra_tasks: list[str] = []
    """Tasks reported with the suite outside its headline and groups (XTREME-R: LAReQA)."""
    labels: dict[str, str] = {}
    """What each suite number is: "score" (the headline) and each of the row's `scores`."""


class NoiseRule(Record):
    """When a delta counts as within noise."""

    method: Literal["seed_spread"]
    """The method."""
    rule: str
    """The rule in words."""
    z: float
    """The multiplier of the standard error."""


class Progress(Record):
    """How much of the plan is evaluated, in evaluate stages (directories of the runs directory)."""

    evaluations_done: int
    """Finished evaluate stages of the plan; a stage that serves several arms (same encoder) counts once."""
    evaluations_planned: int
    """Evaluate stages of the plan, each counted once."""
    evaluation_cells: int
    """(arm, target task, seed) cells the plan's evaluate stages fill; more than evaluations_planned when
    arms share a stage."""
    evaluations_outside_plan: int
    """Finished evaluate stages in the runs directory that this plan does not use (earlier code or
    settings); never part of the leaderboard."""


class Synthetic(Record):
    """Whether the numbers come from generated fixtures: then they are smoke-test numbers, not results."""

    data: bool
    """A finished stage loaded generated data (its stage.json provenance records a synthetic snapshot)."""
    model: bool
    """The model is a generated fixture (the tiny random XLM-R of `xstilts fixtures`), not a pretrained one."""
    why: list[str]
    """The evidence, one line per finding (empty when neither)."""


class Environment(Record):
    """Where the numbers come from."""

    runtime: dict[str, Any] | None
    """The runtime environment a finished stage recorded (null: none finished)."""
    data_revisions: dict[str, str]
    """Hub dataset `repo:config` -> revision."""


class Leaderboard(Record):
    """leaderboard.json written by `xstilts leaderboard` (harness.report.leaderboard.build)."""

    model_config = ConfigDict(title="xstilts leaderboard", json_schema_extra={
        "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "https://xstilts/leaderboard.schema.json"})

    schema_version: Literal[2] = 2
    """Version of this layout."""
    experiment: Experiment
    """The experiment."""
    synthetic: Synthetic
    """Whether data or model are generated fixtures (the Markdown report then opens with a warning)."""
    split: Literal["dev", "test"]
    """The split the rows' scores are on."""
    metric: str | None = None
    """The one metric every cell shows in place of its task's score (`xstilts leaderboard --metric`, e.g. f1):
    a task's score is then the mean of that metric over its languages, a task without it has none, and no suite
    score is formed (suite scores combine each task's official score). Null: each task's own score."""
    tasks: dict[str, TaskInfo]
    """The target tasks, in grid order."""
    suites: dict[str, SuiteInfo]
    """The suites the grid touches."""
    baselines: list[str]
    """Arms every row is compared with."""
    noise: NoiseRule
    """The noise rule of the deltas."""
    arms: list[ArmRow]
    """One row per arm."""
    best_per_target: SelectedRow | None
    """The best intermediate arm per target (null without intermediate arms)."""
    references: list[ReferenceRow]
    """Published numbers."""
    progress: Progress
    """Evaluations done and planned."""
    environment: Environment
    """Runtime and data revisions."""
