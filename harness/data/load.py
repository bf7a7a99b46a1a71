"""Load one split of one task in one language as canonical columns ({field: [values]}).

HF sources go through `datasets.load_dataset` whether they live on the hub or in a local snapshot of the
hub repository (same builder, same schema). Local raw layouts go through the task's own reader.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from functools import lru_cache
from importlib import import_module
from pathlib import Path
from typing import Any

from harness.data.settings import DataSettings
from harness.data.snapshot import fingerprint
from harness.errors import UserError
from harness.spec import HFSource, LocalSource, Source, TaskSpec, parts

log = logging.getLogger(__name__)
Columns = dict[str, list]
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
LABEL_FIELDS = frozenset({"label", "tags"})
"""Canonical fields whose integers are label ids even without a ClassLabel type."""


def load_split(task: TaskSpec, split: str, lang: str, settings: DataSettings) -> tuple[Columns, dict]:
    """Canonical columns and a provenance record for `split` ("train", "dev", "test") of `task` in `lang`."""
    sources = parts(task.source(split))
    if not sources:
        raise UserError(f"task '{task.name}' has no {split} split; choose another split or task")
    if len(sources) == 1:
        return _load_one(task, sources[0], lang, settings)
    loaded = [_load_one(task, s, lang, settings) for s in sources]
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


def _load_one(task: TaskSpec, source: Source, lang: str, settings: DataSettings) -> tuple[Columns, dict]:
    if isinstance(source, LocalSource):
        return _load_local(task, source, lang, settings)
    return _load_hf(task, source, lang, settings)


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


def _load_hf(task: TaskSpec, source: HFSource, lang: str, settings: DataSettings):
    config = source.config_for(lang)
    revision = settings.revisions.get(task.name) or settings.revisions.get(source.repo) or source.revision
    snapshot = settings.snapshot_for(source.repo)
    if snapshot is not None:
        if not (snapshot / "README.md").exists():
            raise UserError(
                f"snapshot of {source.repo} at {snapshot} has no README.md with `configs:`; re-download it "
                f"with `huggingface-cli download --repo-type dataset {source.repo} --local-dir {snapshot}`"
            )
        location, resolved = str(snapshot), fingerprint(snapshot)
    else:
        location, resolved = source.repo, resolve_revision(source.repo, revision)
    table = _read(location, config, source.split, resolved if snapshot is None else None, settings.cache_dir)
    columns = _canonical(table, source, lang, task.name)
    n = len(next(iter(columns.values()))) if columns else 0
    if n == 0:
        raise UserError(
            f"{source.repo} ({config}, {source.split}) has no rows for language '{lang}' of task "
            f"'{task.name}'; check the languages list or the data snapshot"
        )
    expected = source.expected_rows.get(lang)
    if expected is not None and snapshot is None and SHA_RE.match(resolved) and expected != n:
        log.warning("%s %s %s: %d rows, expected %d", source.repo, config, source.split, n, expected)
    provenance = {
        "source": "hf",
        "repo": source.repo,
        "config": config,
        "split": source.split,
        "revision": resolved,
        "snapshot": str(snapshot) if snapshot else None,
        "rows": n,
    }
    return columns, provenance


def resolve_revision(repo: str, revision: str) -> str:
    """A commit SHA for `revision` of dataset `repo` (a branch is resolved on the hub)."""
    if SHA_RE.match(revision):
        return revision
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        return revision
    try:
        from huggingface_hub import HfApi

        return HfApi().dataset_info(repo, revision=revision).sha
    except Exception as exc:  # network, auth, unknown repo: all fixable by the user
        raise UserError(
            f"cannot resolve revision '{revision}' of dataset {repo} ({type(exc).__name__}); pin a commit "
            f"SHA under data.revisions, or point data.snapshots['{repo}'] (or ${{XSTILTS_HUB_SNAPSHOTS}}) "
            "at a local snapshot"
        ) from None


@lru_cache(maxsize=64)
def _read(location: str, config: str | None, split: str, revision: str | None, cache_dir: str | None):
    from datasets import load_dataset
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    try:
        return load_dataset(location, config, split=split, revision=revision, cache_dir=cache_dir)
    except (ValueError, FileNotFoundError, OSError, ConnectionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"cannot load dataset {location} (config {config}, split {split}): {first[:300]}; check the "
            "config/split names, or provide a local snapshot via data.snapshots or $XSTILTS_HUB_SNAPSHOTS"
        ) from None


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
