"""Where data comes from: hub, local snapshots of hub repositories, raw data directories."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

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
