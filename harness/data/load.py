"""Load one split of one task in one language as canonical columns ({field: [values]}).

HF sources go through `datasets.load_dataset` whether they live on the hub or in a local snapshot of the
hub repository (same builder, same schema). Local raw layouts go through the task's own reader.
An HF split must have the row count the task spec gives for the public release (`HFSource.expected_rows`),
unless the experiment overrides it (`data.expected_rows`) or the snapshot is synthetic (test fixtures).
Corpora too large to load whole (e.g. Wikipedia for MLM) are read with `stream_column`, which stops early.
A repository that is a loading script is read from the hub's parquet conversion branch (`HFSource.parquet_branch`):
the split's files `{config}/{split}/*.parquet` are given to `load_dataset` as data_files, at the branch's resolved
commit on the hub or from a local snapshot of that branch.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterable, Iterator
from dataclasses import replace
from functools import lru_cache
from importlib import import_module
from itertools import islice
from pathlib import Path
from typing import Any

from harness.data.holdout import apply_holdout
from harness.data.settings import DataSettings
from harness.data.snapshot import fingerprint, is_synthetic
from harness.errors import UserError
from harness.spec import PARQUET_BRANCH, HFSource, LocalSource, Source, TaskSpec, TrainChain, holds, parts

Columns = dict[str, list]
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
LABEL_FIELDS = frozenset({"label", "tags"})
"""Canonical fields whose integers are label ids even without a ClassLabel type."""


def load_split(task: TaskSpec, split: str, lang: str, settings: DataSettings, seed: int = 0) -> tuple[Columns, dict]:
    """Canonical columns and a provenance record for `split` ("train", "dev", "test") of `task` in `lang`.

    The task's kind settings `label_map` / `label_map_default` then map its labels (`map_labels`), and its
    `prepare` function, given `seed` (the stage's), derives the final rows (e.g. negative pairs)."""
    columns, provenance = _load_split(task, split, lang, settings)
    columns, mapped = map_labels(columns, task)
    if mapped:
        provenance = {**provenance, "label_map": mapped}
    if task.prepare:
        module, attr = task.prepare.split(":")
        n_in = len(columns["id"])
        columns = getattr(import_module(module), attr)(columns, split=split, lang=lang, seed=seed,
                                                        settings=dict(task.settings))
        provenance = {**provenance, "prepared": {"function": task.prepare, "seed": seed, "rows_loaded": n_in,
                                                 "rows": len(columns["id"])}}
    return columns, provenance


def map_labels(columns: Columns, task: TaskSpec) -> tuple[Columns, dict]:
    """`columns` with each value of `label` (or each tag of `tags`) mapped by the task's kind setting
    `label_map` ({data label: label of the task's set}); a label neither mapped nor in the task's label set
    becomes `label_map_default`, or is a UserError without one. Returns the columns and a count of the changes
    per (original -> new) label (empty without a `label_map` setting)."""
    table = task.settings.get("label_map")
    if table is None:
        return columns, {}
    default = task.settings.get("label_map_default")
    known = set(task.labels)
    changes: dict[str, int] = {}

    def one(label: Any) -> Any:
        new = table.get(label, label)
        if known and new not in known:
            if default is None:
                raise UserError(f"task '{task.name}': label '{label}' is neither in its label_map nor in its label "
                                f"set {sorted(known)}; add it to task_settings.{task.name}.label_map or set "
                                "label_map_default")
            new = default
        if new != label:
            changes[f"{label}->{new}"] = changes.get(f"{label}->{new}", 0) + 1
        return new

    out = dict(columns)
    if "label" in out:
        out["label"] = [one(v) for v in out["label"]]
    if "tags" in out:
        out["tags"] = [[one(v) for v in row] for row in out["tags"]]
    return out, dict(sorted(changes.items()))


def _load_split(task: TaskSpec, split: str, lang: str, settings: DataSettings) -> tuple[Columns, dict]:
    if split == "train" and isinstance(task.train, TrainChain):
        names = ", ".join(s.name for s in task.train.steps)
        raise UserError(f"task '{task.name}' trains on a chain of training sets ({names}), one after another; "
                        "only a target stage trains on it (load one step with replace(task, train=step.source))")
    sources = parts(task.source(split))
    if not sources:
        raise UserError(f"task '{task.name}' has no {split} split; choose another split or task")
    held = [(i, s) for i, s in enumerate(sources) if holds(s, lang)]  # the parts with rows in `lang`
    if len(sources) == 1 and held:
        return _load_one(task, sources[0], lang, settings, split)
    if not held:
        raise UserError(f"task '{task.name}' has no {split} source for language '{lang}'; choose another "
                        "language or split")
    if len(held) == 1:  # one repository per language: its rows as they are (the part index keys overrides)
        return _load_one(task, held[0][1], lang, settings, split, held[0][0])
    loaded = [_load_one(task, s, lang, settings, split, i) for i, s in held]
    columns = concatenate([c for c, _ in loaded], task.name, split)
    return columns, {"source": "concat", "parts": [p for _, p in loaded]}


def with_labels(task: TaskSpec, settings: DataSettings) -> TaskSpec:
    """`task` with its label set filled from its data when the kind setting `labels_from` names a
    "module:function" fn(data_dir) -> labels (label sets that only the licensed data holds)."""
    source = task.settings.get("labels_from")
    if task.labels or not source:
        return task
    data_dir = settings.data_dirs.get(task.name)
    if not data_dir:
        raise UserError(f"task '{task.name}' reads its label set from local files: pass --data-dir or set "
                        f"data.data_dirs.{task.name} in the experiment")
    module, attr = source.split(":")
    return replace(task, labels=tuple(getattr(import_module(module), attr)(Path(data_dir).expanduser())))


def _load_one(task: TaskSpec, source: Source, lang: str, settings: DataSettings, split: str,
              part: int | None = None) -> tuple[Columns, dict]:
    """One source of `split`; `part` is its index when the split concatenates several sources. A hub source
    with a `local` twin reads the twin when the task has a data directory."""
    if isinstance(source, HFSource) and source.local is not None and settings.data_dirs.get(task.name):
        source = source.local
    if isinstance(source, LocalSource):
        columns, provenance = _load_local(task, source, lang, settings)
    else:
        columns, provenance = _load_hf(task, source, lang, settings, split, part)
    if source.holdout is None:
        return columns, provenance
    columns, record = apply_holdout(columns, source.holdout)
    return columns, {**provenance, "rows": record["rows"], "holdout": record}


def concatenate(parts_: list[Columns], task_name: str, split: str) -> Columns:
    """Rows of several sources one after the other; ids are prefixed by the part index to stay unique."""
    names = set(parts_[0])
    for i, cols in enumerate(parts_[1:], 1):
        if set(cols) != names:
            raise UserError(f"task '{task_name}' {split}: source {i} yields fields {sorted(cols)}, source 0 "
                            f"yields {sorted(names)}; map every source to the same canonical fields")
    out: Columns = {name: [] for name in parts_[0]}
    for i, cols in enumerate(parts_):
        for name, values in cols.items():
            out[name] += [f"{i}:{v}" for v in values] if name == "id" else list(values)
    return out


def _load_local(task: TaskSpec, source: LocalSource, lang: str, settings: DataSettings):
    data_dir = settings.data_dirs.get(task.name)
    if not data_dir:
        raise UserError(
            f"task '{task.name}' reads local files ({source.layout or source.reader}): pass --data-dir "
            f"or set data.data_dirs.{task.name} in the experiment"
        )
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise UserError(f"data directory for '{task.name}' does not exist: {path}; fix data.data_dirs")
    module, attr = source.reader.split(":")
    columns = getattr(import_module(module), attr)(path, lang, source.split)
    provenance = {"source": "local", "dir": str(path), "split": source.split, "layout": source.layout}
    return columns, provenance


def _load_hf(task: TaskSpec, source: HFSource, lang: str, settings: DataSettings, split: str,
             part: int | None) -> tuple[Columns, dict]:
    config = source.config_for(lang)
    location, resolved, snapshot = _locate(task.name, source, settings)
    files = source.data_files(lang)
    if snapshot is None:
        table = _read(location, config, source.split, resolved, settings.cache_dir, files)
    else:
        table = _read(location, config, source.split, None, _snapshot_cache(settings.cache_dir, resolved), files)
    columns = _canonical(table, source, lang, task.name)
    n = len(next(iter(columns.values()))) if columns else 0
    if n == 0:
        raise UserError(
            f"{source.repo} ({config}, {source.split}) has no rows for language '{lang}' of task "
            f"'{task.name}'; check the languages list or the data snapshot"
        )
    provenance = {
        "source": "hf",
        "repo": source.repo,
        "config": config,
        "split": source.split,
        "revision": resolved,
        **({"branch": PARQUET_BRANCH, "data_files": list(files)} if files else {}),
        "snapshot": str(snapshot) if snapshot else None,
        "rows": n,
        "synthetic": snapshot is not None and is_synthetic(snapshot),  # generated fixture data (the report says so)
    }
    provenance.update(check_rows(task.name, split, part, source, lang, n, settings, snapshot, resolved))
    return columns, provenance


def _locate(name: str, source: HFSource, settings: DataSettings) -> tuple[str, str, Path | None]:
    """(what load_dataset reads, resolved revision or snapshot fingerprint, snapshot dir or None).

    The revision is the experiment's pin for task `name` or for the repository, else the source's own.
    """
    snapshot = settings.snapshot_for(source.repo)
    if snapshot is None:
        revision = settings.revisions.get(name) or settings.revisions.get(source.repo) or source.revision
        looked_at = settings.snapshot_looked_at(source.repo)
        if looked_at is not None and _offline():
            setting, path = looked_at
            raise UserError(f"no snapshot of dataset {source.repo} at {path} ({setting} is set) and the hub is "
                            f"off; download it there (`huggingface-cli download --repo-type dataset {source.repo} "
                            f"{_branch_flag(source)}--local-dir {path}`) or fix {setting}")
        return source.repo, resolve_revision(source.repo, revision), None
    if not source.parquet_branch and not (snapshot / "README.md").exists():
        raise UserError(
            f"snapshot of {source.repo} at {snapshot} has no README.md with `configs:`; re-download it "
            f"with `huggingface-cli download --repo-type dataset {source.repo} --local-dir {snapshot}`"
        )
    return str(snapshot), fingerprint(snapshot), snapshot


def _branch_flag(source: HFSource) -> str:
    """The download option that fetches the branch `source` reads ("" for the repository's default)."""
    return f"--revision {PARQUET_BRANCH} " if source.parquet_branch else ""


def check_rows(task: str, split: str, part: int | None, source: HFSource, lang: str, n: int,
               settings: DataSettings, snapshot: Path | None, resolved: str) -> dict:
    """Provenance of the check of `n` loaded rows against the expected count (the experiment's
    data.expected_rows override, else the public release's, which synthetic snapshots are exempt from);
    a UserError when they differ. `split` is the task's split, `part` the source's index in it."""
    overridden, expected = settings.rows_override(task, split, lang, part)
    if overridden and expected is None:
        return {"expected_rows": None, "rows_override": True, "rows_check": "skipped: data.expected_rows is null"}
    if not overridden:
        expected = source.expected_rows.get(lang)
        if expected is None:
            return {}
        if snapshot is not None and is_synthetic(snapshot):
            return {"rows_check": "skipped: synthetic snapshot"}
    if n != expected:
        where = f"snapshot {snapshot}" if snapshot else f"revision {resolved}"
        raise UserError(_rows_message(task, split, part, source, lang, n, expected, overridden, where))
    return {"expected_rows": expected, "rows_override": overridden, "rows_check": "ok"}


def _rows_message(task: str, split: str, part: int | None, source: HFSource, lang: str, n: int, expected: int,
                  overridden: bool, where: str) -> str:
    key = f"{task}.{split}.{lang}" + (f".{part}" if part is not None else "")
    value = f"{{{part}: {n}}}" if part is not None else str(n)
    whose = "data.expected_rows of the experiment" if overridden else "the public release"
    of_part = f" (source {part} of the split)" if part is not None else ""
    return (f"{source.repo} (config {source.config_for(lang)}, split {source.split}, {where}) has {n} rows for "
            f"language '{lang}' of task '{task}' {split}{of_part}, expected {expected} ({whose}); check the data, "
            f"or accept {n} rows with --set data.expected_rows.{key}={n} or in the experiment "
            f"data: {{expected_rows: {{{task}: {{{split}: {{{lang}: {value}}}}}}}}} (null switches the check off)")


def stream_column(source: HFSource, lang: str, settings: DataSettings, limit: int | None = None,
                  split_lines: bool = False, name: str = "") -> tuple[list[str], dict]:
    """The first `limit` (None: all) non-empty texts of the one column `source.fields` maps, and provenance.

    The split is streamed (`load_dataset(..., streaming=True)`) from the hub or a local snapshot, located and
    pinned as for tasks (`name`: the task whose data.revisions entry applies), and reading stops once
    `limit` texts are in, so memory is bounded by `limit` (plus the reader's buffer, about one row group),
    not by the corpus. With `split_lines` each row's
    text is cut into its stripped non-empty lines, each one text. Provenance has `rows` (texts returned) and
    `rows_read` (source rows read).
    """
    (column,) = source.fields.values()
    config = source.config_for(lang)
    location, resolved, snapshot = _locate(name, source, settings)
    rows = _stream(location, config, source.split, resolved if snapshot is None else None, settings.cache_dir,
                   source.data_files(lang))
    read = [0]
    try:
        texts = list(islice(_texts(rows, column, split_lines, read, f"{source.repo} ({config}, {source.split})"),
                            limit))
    finally:
        rows.close()  # stop reading now (files, connections), not when the generator is collected
    if not texts:
        raise UserError(f"{source.repo} ({config}, {source.split}) has no text in column '{column}' for language "
                        f"'{lang}'; check the languages list, the text column or the data snapshot")
    provenance = {
        "source": "hf", "repo": source.repo, "config": config, "split": source.split, "revision": resolved,
        "snapshot": str(snapshot) if snapshot else None, "streamed": True, "limit": limit,
        "split_lines": split_lines, "rows_read": read[0], "rows": len(texts),
        "synthetic": snapshot is not None and is_synthetic(snapshot),
    }
    return texts, provenance


def split_rows(source: HFSource, lang: str, settings: DataSettings, name: str = "") -> int | None:
    """The number of rows of a split as its dataset card states it (`dataset_info`), without reading the data;
    None when the card does not say (e.g. a snapshot without dataset_info) or cannot be read."""
    from datasets import load_dataset_builder

    location, resolved, snapshot = _locate(name, source, settings)
    try:
        files = source.data_files(lang)
        builder = load_dataset_builder(location, None if files else source.config_for(lang),
                                       revision=resolved if snapshot is None else None,
                                       data_files=list(files) if files else None)
        splits = builder.info.splits or {}
        info = splits.get(source.split) if hasattr(splits, "get") else None
    except Exception:  # an unreadable card only means the size is unknown; loading itself reports real errors
        return None
    return int(info.num_examples) if info is not None and info.num_examples else None


def _texts(rows: Iterable[dict], column: str, split_lines: bool, read: list[int], where: str) -> Iterator[str]:
    """Non-empty texts of `column`, row by row (each row's lines with `split_lines`); counts rows in read[0]."""
    for row in rows:
        if column not in row:
            raise UserError(f"{where} has no column '{column}' (columns: {sorted(row)}); fix the text column")
        read[0] += 1
        text = row[column]
        if not isinstance(text, str):
            continue
        if split_lines:
            yield from (line.strip() for line in text.splitlines() if line.strip())
        elif text.strip():
            yield text


def _stream(location: str, config: str | None, split: str, revision: str | None,
            cache_dir: str | None, files: tuple[str, ...] | None = None) -> Generator[dict, None, None]:
    """The rows of a split, read lazily (nothing is read before the first row is asked for); load and read
    errors are UserErrors."""
    from datasets import load_dataset
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    try:
        yield from load_dataset(location, None if files else config, split=split, revision=revision,
                                cache_dir=cache_dir, streaming=True, **_data_files(split, files))
    except (ValueError, FileNotFoundError, OSError, ConnectionError) as exc:
        raise _load_error(location, config, split, exc) from None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1"


def resolve_revision(repo: str, revision: str) -> str:
    """A commit SHA for `revision` of dataset `repo` (a branch is resolved on the hub)."""
    if SHA_RE.match(revision) or _offline():
        return revision
    try:
        from huggingface_hub import HfApi

        return HfApi().dataset_info(repo, revision=revision).sha
    except Exception as exc:  # network, auth, unknown repo: all fixable by the user
        raise UserError(
            f"cannot resolve revision '{revision}' of dataset {repo} ({type(exc).__name__}); pin a commit "
            f"SHA under data.revisions, or use a local snapshot: data.snapshot_root (a folder of ORG/NAME "
            f"snapshots) or data.snapshots: {{{repo}: DIR}}"
        ) from None


def _snapshot_cache(cache_dir: str | None, fingerprint_: str) -> str:
    """A datasets cache directory of its own for one state (fingerprint) of a local snapshot.

    datasets keys the cache of a local directory by its name and config only, so a snapshot rewritten in
    place (a newer download) or another snapshot directory with the same name would be served stale rows.
    """
    import datasets.config

    return str(Path(cache_dir or datasets.config.HF_DATASETS_CACHE) / "xstilts-snapshots" / fingerprint_)


@lru_cache(maxsize=2048)  # every (config, split) of a grid, once per process: tables are memory-mapped
def _read(location: str, config: str | None, split: str, revision: str | None, cache_dir: str | None,
          files: tuple[str, ...] | None = None):
    from datasets import load_dataset
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    try:
        return load_dataset(location, None if files else config, split=split, revision=revision,
                            cache_dir=cache_dir, **_data_files(split, files))
    except (ValueError, FileNotFoundError, OSError, ConnectionError) as exc:
        raise _load_error(location, config, split, exc) from None


def _data_files(split: str, files: tuple[str, ...] | None) -> dict:
    """load_dataset's data_files for the parquet branch (given with no config): the split's file patterns; those
    matching nothing, such as the partial- form of a complete split, are skipped. {} otherwise."""
    return {} if files is None else {"data_files": {split: list(files)}}


def _load_error(location: str, config: str | None, split: str, exc: Exception) -> UserError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return UserError(
        f"cannot load dataset {location} (config {config}, split {split}): {first[:300]}; check the "
        "config/split names, or use a local snapshot: data.snapshot_root (a folder of ORG/NAME snapshots) or "
        "data.snapshots: {REPO: DIR}"
    )


def _label_names(feature: Any) -> list[str] | None:
    names = getattr(feature, "names", None)
    if names:
        return list(names)
    inner = getattr(feature, "feature", None)
    return _label_names(inner) if inner is not None else None


def _canonical(table: Any, source: HFSource, lang: str, task_name: str) -> Columns:
    missing = [c for c in source.columns() if c not in table.column_names]
    if missing:
        raise UserError(
            f"{source.repo} ({source.config_for(lang)}, {source.split}) lacks column(s) {sorted(missing)} "
            f"needed by task '{task_name}'; columns are {table.column_names}; the snapshot has the wrong "
            "schema"
        )
    raw = table.to_dict()
    keep = _row_mask(raw, source, lang)
    columns: Columns = {}
    for name, spec in source.fields.items():
        names = (spec,) if isinstance(spec, str) else spec
        gathered = [_column(raw, table, c, source, keep, name in LABEL_FIELDS) for c in names]
        columns[name] = gathered[0] if isinstance(spec, str) else list(map(list, zip(*gathered, strict=True)))
    if source.transform:
        module, attr = source.transform.split(":")
        columns = getattr(import_module(module), attr)(columns)
    if "id" not in columns:
        n = len(next(iter(columns.values()))) if columns else 0
        columns["id"] = [f"{lang}-{source.split}-{i}" for i in range(n)]
    else:
        columns["id"] = [str(v) for v in columns["id"]]
    return columns


def _column(raw: Columns, table: Any, column: str, source: HFSource, keep: list[bool] | None,
            is_label: bool) -> list:
    """One source column; ClassLabel ids (or the integer labels of a label field) become label names."""
    values = raw[column] if keep is None else [v for v, k in zip(raw[column], keep, strict=True) if k]
    class_names = _label_names(table.features[column])
    names = list(source.label_names) if source.label_names and (class_names or is_label) else class_names
    return [_to_names(v, names) for v in values] if names else values


def _row_mask(raw: Columns, source: HFSource, lang: str) -> list[bool] | None:
    if not source.where:
        return None
    n = len(next(iter(raw.values())))
    keep = [True] * n
    for column, op, value in source.where:
        value = value.format(lang=lang, lang_name=source.lang_names.get(lang, lang))
        col = raw[column]
        if op == "==":
            keep = [k and str(v) == value for k, v in zip(keep, col, strict=True)]
        elif op == "!=":
            keep = [k and str(v) != value for k, v in zip(keep, col, strict=True)]
        elif op == "startswith":
            keep = [k and str(v).startswith(value) for k, v in zip(keep, col, strict=True)]
        else:
            raise ValueError(f"unknown filter op {op!r}")
    return keep


def _to_names(value: Any, names: list[str]) -> Any:
    if isinstance(value, list):
        return [_to_names(v, names) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return names[value] if 0 <= value < len(names) else None
    return value
