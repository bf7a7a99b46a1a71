"""Task specifications: a task is pure data; behaviour is looked up by its kind's name.

Adding a task means writing one `TaskSpec` in tasks/ and naming it in an entry point of the group
`xstilts.tasks`; the engine never branches on a task's name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Holdout:
    """A fixed, seeded slice of a split's rows, chosen by a hash of each row id (independent of row order).

    The same (fraction, seed) with part "slice" and part "rest" partition the rows: a benchmark without a
    dev split (TyDiQA-GoldP) gets one from its training data, and trains on the rest.
    """

    fraction: float
    """Share of rows in the slice, in (0, 1)."""
    seed: int
    """Seed of the id hash; changing it draws another slice."""
    part: str = "slice"
    """"slice" (the held-out rows) or "rest" (every other row)."""

    def __post_init__(self) -> None:
        if not 0 < self.fraction < 1 or self.part not in ("slice", "rest"):
            raise ValueError(f"Holdout: fraction must be in (0, 1) and part 'slice' or 'rest', got {self}")


PARQUET_BRANCH = "refs/convert/parquet"
"""The hub's parquet conversion branch: every config of a repository as parquet files
{config}/{split}/NNNN.parquet (partial-{split}/ for a split the conversion truncated); the one readable form
of a repository that is a loading script, which `datasets` 5.x cannot run."""


@dataclass(frozen=True)
class HFSource:
    """One split of a task on the Hugging Face hub, or in a local snapshot of that hub repository."""

    repo: str
    """Dataset repository id, e.g. "google/xtreme"."""
    split: str
    """Split name inside the config, e.g. "validation"."""
    config: str | None = None
    """Config name; may contain {lang} (e.g. "PAWS-X.{lang}") or {lang_name} (e.g. "udpos.{lang_name}")."""
    revision: str = "main"
    """Pinned commit SHA or branch; a branch is resolved to its commit at run time and recorded."""
    fields: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    """Canonical example field -> source column, e.g. {"text_a": "sentence1", "label": "label"}; a tuple of
    columns gathers them into one list per row, e.g. {"choices": ("answer0", "answer1")}."""
    label_names: tuple[str, ...] = ()
    """Names of integer labels in ClassLabel order; empty when the column already holds names."""
    where: tuple[tuple[str, str, str], ...] = ()
    """Row filters (column, op, value) with op in {"==", "!=", "startswith"}; value may contain {lang}."""
    lang_names: Mapping[str, str] = field(default_factory=dict)
    """Language code -> the name the config uses, for configs like "udpos.German"."""
    expected_rows: Mapping[str, int] = field(default_factory=dict)
    """Language code -> row count of the public release; checked when data comes from a pinned revision."""
    transform: str = ""
    """Optional "module:function" fn(columns) -> columns applied after the field mapping, for schemas that
    need reshaping (e.g. a letter answer key -> choice index)."""
    languages: tuple[str, ...] | None = None
    """Languages this source holds; None: every language of the task (e.g. UD-POS dev lacks th, tl, yo)."""
    holdout: Holdout | None = None
    """Keep only a fixed, seeded slice of the rows (or all rows but it): a dev set carved from train data."""
    local: LocalSource | None = None
    """The same rows from a release's own files: read instead of the hub when the experiment gives the task a
    data directory (`data.data_dirs.<task>` / `--data-dir`), e.g. LinCE's CoNLL files."""
    parquet_branch: bool = False
    """Read the hub's parquet conversion ({config}/{split}/*.parquet of PARQUET_BRANCH) instead of the
    repository's own layout: for repositories that are loading scripts. Set by `revision=PARQUET_BRANCH` (and
    kept when an experiment pins a commit of that branch); the branch is resolved and recorded as any revision,
    and a local snapshot is that branch downloaded (`--revision refs/convert/parquet`)."""

    def __post_init__(self) -> None:
        if self.revision == PARQUET_BRANCH:
            object.__setattr__(self, "parquet_branch", True)
        elif self.parquet_branch and self.revision == "main":
            object.__setattr__(self, "revision", PARQUET_BRANCH)

    def data_files(self, lang: str) -> tuple[str, ...] | None:
        """Glob patterns of this split's files on the parquet branch (None: the repository's own configs)."""
        if not self.parquet_branch:
            return None
        config = self.config_for(lang) or "default"
        return (f"{config}/{self.split}/*.parquet", f"{config}/partial-{self.split}/*.parquet")

    def columns(self) -> list[str]:
        """Every source column the field mapping and the filters read."""
        cols = [c for v in self.fields.values() for c in ((v,) if isinstance(v, str) else v)]
        return sorted(set(cols) | {w[0] for w in self.where})

    def config_for(self, lang: str) -> str | None:
        if self.config is None:
            return None
        return self.config.format(lang=lang, lang_name=self.lang_names.get(lang, lang))


@dataclass(frozen=True)
class LocalSource:
    """One split read from raw files under a user-given data directory (licensed or mirror-only data)."""

    reader: str
    """"module:function" that yields canonical examples: fn(data_dir: Path, lang: str, split: str)."""
    split: str
    """Split name passed to the reader (e.g. BUCC "sample" for dev, "training" for test)."""
    layout: str = ""
    """Human description of the expected files, shown in errors, e.g. "{src}-en.{split}.{src}"."""
    languages: tuple[str, ...] | None = None
    """Languages this source holds; None: every language of the task."""
    holdout: Holdout | None = None
    """As for HFSource."""


Source = HFSource | LocalSource
SplitSource = Source | tuple[Source, ...]
"""A split is one source, or several whose rows are concatenated in order (e.g. ANLI rounds + SNLI + MNLI).
A language is read from the sources that hold it (`languages`), so one split can also take each language
from another repository (e.g. XTREME-R's PAN-X: google/xtreme for XTREME's languages, WikiANN for the rest)."""


@dataclass(frozen=True)
class TrainStep:
    """One training set of a `TrainChain`: trained to its end before the next step starts."""

    name: str
    """Label of the step in stage records and in a target's `steps:` overrides, e.g. "siqa"."""
    source: SplitSource
    """Its English training rows, mapped to the task's canonical fields."""
    hparams: Mapping[str, Any] = field(default_factory=dict)
    """This step's recipe (e.g. {"epochs": 5}) over the task's `hparams`; an experiment's overrides still
    apply to every step, and a target's `steps: {NAME: {...}}` to this one last."""


@dataclass(frozen=True)
class TrainChain:
    """Training sets trained one after another, one model and one head carried through (XTREME-R's XCOPA
    recipe: SIQA, then COPA). Used as `TaskSpec.train`; the target stage trains step by step, each with its
    own hparams and its own checkpoint, so a run resumes inside the chain."""

    steps: tuple[TrainStep, ...]

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"TrainChain: give one step or more, with distinct names, got {names}")


def parts(source: SplitSource | TrainChain | None) -> tuple[Source, ...]:
    """The sources of a split, in order (empty when the split is absent); a chain's, step after step."""
    if source is None:
        return ()
    if isinstance(source, TrainChain):
        return tuple(p for step in source.steps for p in parts(step.source))
    return source if isinstance(source, tuple) else (source,)


def holds(source: Source, lang: str) -> bool:
    """Whether `source` has rows in `lang` (a source without a language list holds every language)."""
    return source.languages is None or lang in source.languages


@dataclass(frozen=True)
class Submission:
    """How the task appears in the XTREME leaderboard submission layout."""

    folder: str
    """Folder name, e.g. "pawsx"; files are {folder}/test-{lang}.{ext}."""
    ext: str = "tsv"


@dataclass(frozen=True)
class TaskSpec:
    """A task: what data, which kind of model head, which metric, which languages."""

    name: str
    """Registry name, lower case, e.g. "xnli"."""
    kind: str
    """Kind name registered in the entry point group `xstilts.kinds`: classification, multiple_choice, tagging,
    span_qa, retrieval, mlm, or a plugin's."""
    description: str
    """One line shown by `xstilts tasks`."""
    metric: str
    """Metric name registered in the entry point group `xstilts.metrics`, e.g. "accuracy", "squad"."""
    score_metrics: tuple[str, ...]
    """Metric names averaged into the task score, e.g. ("accuracy",) or ("exact_match", "f1")."""
    languages: tuple[str, ...] = ("en",)
    """Evaluation languages (official list and order)."""
    train_language: str = "en"
    """Language of the training split; zero-shot targets train on English only."""
    labels: tuple[str, ...] = ()
    """Label names for classification and tagging kinds."""
    train: SplitSource | TrainChain | None = None
    """English training rows; a TrainChain trains several sets in sequence (target phase only)."""
    dev: SplitSource | None = None
    test: SplitSource | None = None
    role: str = "target"
    """"target" (XTREME-style evaluation task) or "intermediate" (English training task)."""
    suites: tuple[str, ...] = ()
    """Benchmarks the task belongs to, e.g. ("xtreme", "xtreme_r")."""
    submission: Submission | None = None
    """Layout in a leaderboard submission folder, if the task has one."""
    hparams: Mapping[str, Any] = field(default_factory=dict)
    """Per-task recipe defaults (lr, epochs, max_seq_length, ...), overridable per experiment."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Kind settings, e.g. {"max_answer_length": 30} for span QA or {"pooling": "mean"} for retrieval."""
    version: int = 1
    """Bumped when a data or scoring fix changes numbers; results record it."""
    superseded_by: str | None = None
    license: str = ""
    citation: str = ""
    homepage: str = ""
    aliases: tuple[str, ...] = field(default=())
    """Other accepted names, e.g. ("paws-x",)."""
    selection_proxy: tuple[str, ...] = ()
    """Tasks whose dev score stands in for this task's when it has no dev split (the first one in the
    grid is used), e.g. Tatoeba is selected by the BUCC dev F1 of the same encoder."""
    prepare: str = ""
    """Optional "module:function" fn(columns, *, split, lang, seed, settings) -> columns, applied to every split
    after loading (and after `label_map`): rows derived from the data and the stage's seed, e.g. negative pairs
    drawn for a matching task. `settings` are the task's resolved kind settings; `seed` the stage's (0 when it
    has none)."""
    check_settings: str = ""
    """Optional "module:function" fn(settings) that raises a UserError for kind settings the task cannot use
    (e.g. a negative rate); `xstilts validate` calls it with the task's settings as an experiment resolves them."""
    note: str = ""
    """One line the leaderboard prints with the task's results, e.g. that its test column is a validation split."""

    def train_steps(self) -> tuple[TrainStep, ...]:
        """The training steps: a chain's, or the one step of a plain train split (named after the task)."""
        if isinstance(self.train, TrainChain):
            return self.train.steps
        return () if self.train is None else (TrainStep(self.name, self.train),)

    def source(self, split: str) -> SplitSource | TrainChain | None:
        """The source(s) of split "train", "dev" or "test"."""
        return {"train": self.train, "dev": self.dev, "test": self.test}[split]

    def split_languages(self, split: str, languages: Sequence[str] | None = None) -> tuple[str, ...]:
        """The languages (of `languages`, default all of the task's) that `split` exists in."""
        sources = parts(self.source(split))
        wanted = self.languages if languages is None else tuple(languages)
        if not sources:
            return ()
        return tuple(lang for lang in wanted if any(holds(s, lang) for s in sources))

    def sources(self) -> tuple[Source, ...]:
        """Every source of every split, in split order."""
        return parts(self.train) + parts(self.dev) + parts(self.test)

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly description for listings and results."""
        src = (parts(self.test) or parts(self.dev) or parts(self.train) or (None,))[0]
        where = ""
        if isinstance(src, HFSource):
            where = f"{src.repo}" + (f" ({src.config})" if src.config else "") + f"@{src.revision}"
        elif isinstance(src, LocalSource):
            where = f"local files: {src.layout or src.reader}"
        return {
            "name": self.name,
            "kind": self.kind,
            "role": self.role,
            "languages": list(self.languages),
            "metric": self.metric,
            "score": "+".join(self.score_metrics),
            "source": where,
            "version": self.version,
        }


@dataclass(frozen=True)
class Suite:
    """A benchmark: its tasks, its groups, and how the overall score is formed."""

    name: str
    """Registry name, e.g. "xtreme"."""
    tasks: tuple[str, ...]
    """Task registry names, in the benchmark's order."""
    groups: Mapping[str, tuple[str, ...]]
    """Group name -> task names, e.g. {"classification": ("xnli", "pawsx"), ...}."""
    overall: str = "mean_of_tasks"
    """"mean_of_tasks" (XTREME, and XTREME-R's evaluate.py `all_task`: mean of the task scores) or
    "mean_of_groups" (mean of the group scores)."""
    description: str = ""
    aliases: tuple[str, ...] = ()
    """Other accepted names, e.g. ("xtreme_r",) for "xtreme-r" (the spelling `TaskSpec.suites` uses)."""
    extra_tasks: tuple[str, ...] = ()
    """Tasks scored and reported with the suite that are in no group and not in the headline score (LAReQA
    in XTREME-R, which evaluate.py lists without languages); they enter only the `scores` that name them."""
    scores: Mapping[str, SuiteScore] = field(default_factory=dict)
    """Scores reported beside the headline, by JSON field name, e.g. the mean of the group scores."""
    score_label: str = ""
    """What the headline score is, in words (shown beside it in reports)."""

    @property
    def all_tasks(self) -> tuple[str, ...]:
        """The headline's tasks, then the extra ones."""
        return self.tasks + tuple(t for t in self.extra_tasks if t not in self.tasks)


@dataclass(frozen=True)
class SuiteScore:
    """A labelled score reported beside a suite's headline; strict like it (null unless complete)."""

    rule: str
    """"mean_of_tasks" (the plain mean of `tasks`' scores) or "mean_of_groups" (of every group's score)."""
    label: str
    """What it is, in words, for reports and the JSON output."""
    tasks: tuple[str, ...] = ()
    """The tasks averaged by "mean_of_tasks"."""
