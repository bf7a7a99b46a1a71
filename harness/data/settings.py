"""Where data comes from: hub, local snapshots of hub repositories, raw data directories."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import UserError

SNAPSHOT_ENV = "XSTILTS_HUB_SNAPSHOTS"
"""Environment variable: a directory holding snapshots as {root}/{org}/{name} (e.g. .../google/xtreme)."""


@dataclass(frozen=True)
class DataSettings:
    """Per-experiment data settings; every field is optional."""

    snapshots: Mapping[str, str] = field(default_factory=dict)
    """Repository id -> local snapshot directory (huggingface-cli download --local-dir layout)."""
    snapshot_root: str | None = None
    """Directory with snapshots as {root}/{org}/{name}; defaults to $XSTILTS_HUB_SNAPSHOTS."""
    revisions: Mapping[str, str] = field(default_factory=dict)
    """Repository id or task name -> revision (commit SHA or branch), overriding the task's pin."""
    data_dirs: Mapping[str, str] = field(default_factory=dict)
    """Task name -> directory of raw files for tasks read from local layouts (BUCC, Tatoeba, CCGbank)."""
    cache_dir: str | None = None
    """HF datasets cache directory (defaults to the library's)."""
    expected_rows: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    """Overrides of the public row counts that HF splits are checked against: task -> split ("train", "dev",
    "test") -> language -> rows, or None to switch the check off; for a split concatenated from several
    sources (e.g. anli train) -> {part index: rows or None}, or None for every part.
    E.g. {"pawsx": {"dev": {"de": 1999}}, "anli": {"train": {"en": {3: 549000}}}}. The count is the source's
    before any held-out slice is taken (TyDiQA's dev and train both check the full English train count)."""

    def rows_override(self, task: str, split: str, lang: str, part: int | None) -> tuple[bool, int | None]:
        """(whether an override is set, its rows or None) for `part` (None: a single-source split)."""
        langs = self.expected_rows.get(task, {}).get(split, {})
        if lang not in langs:
            return False, None
        value = langs[lang]
        if isinstance(value, Mapping):
            if part is None:
                raise UserError(f"data.expected_rows.{task}.{split}.{lang}: {task} {split} has one source; give "
                                "its rows (or null), not a mapping of part indices")
            parts = {int(k): v for k, v in value.items()}
            return (True, parts[part]) if part in parts else (False, None)
        if value is not None and part is not None:
            raise UserError(f"data.expected_rows.{task}.{split}.{lang}: {task} {split} is concatenated from several "
                            f"sources; give {{part index: rows}}, e.g. {{{part}: {value}}}")
        return True, value

    def snapshot_looked_at(self, repo: str) -> tuple[str, Path] | None:
        """(the setting that names a snapshot root, the path looked at for `repo`) when a root is set."""
        if self.snapshot_root:
            return "data.snapshot_root", Path(self.snapshot_root).expanduser() / repo
        if os.environ.get(SNAPSHOT_ENV):
            return f"${SNAPSHOT_ENV}", Path(os.environ[SNAPSHOT_ENV]).expanduser() / repo
        return None

    def snapshot_for(self, repo: str) -> Path | None:
        """The local snapshot directory of `repo`, if one is configured and exists."""
        if repo in self.snapshots:
            return Path(self.snapshots[repo]).expanduser()
        root = self.snapshot_root or os.environ.get(SNAPSHOT_ENV)
        if root:
            candidate = Path(root).expanduser() / repo
            if candidate.is_dir():
                return candidate
        return None
