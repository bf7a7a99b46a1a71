"""Local snapshots of hub dataset repositories: the layout `huggingface-cli download --local-dir` writes.

A snapshot is a directory with a README.md whose YAML front matter lists `configs:` (config name and the
parquet `data_files` of each split) and the parquet files themselves. `datasets.load_dataset(DIR, CONFIG)`
reads it through the same packaged parquet builder that serves the hub repository. Snapshots of generated
data (test fixtures, `make demo`) carry `xstilts_synthetic: true` in that front matter: the public row
counts of the real datasets are not checked against them. A snapshot of the hub's parquet conversion branch
(for repositories that are loading scripts) has no `configs:`: its files are {config}/{split}/NNNN.parquet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

SYNTHETIC_KEY = "xstilts_synthetic"
"""Top-level README front-matter key marking a snapshot of generated data (no public row counts apply)."""


def write_snapshot(
    root: Path,
    configs: Mapping[str, Mapping[str, Mapping[str, list]]],
    features: Mapping[str, Any] | None = None,
    description: str = "",
    shards: int = 1,
) -> Path:
    """Write (or add to) a hub-style snapshot of generated data: configs = {config: {split: {column: values}}}.

    `features` maps config name to a `datasets.Features` so ClassLabel and Sequence types are embedded in
    the parquet files exactly as on the hub. Each split is cut into `shards` parquet files (rows in order).
    Configs already listed in root/README.md are kept unless rewritten here, so several writers can fill one
    repository. The README is marked synthetic (`xstilts_synthetic: true`). Returns `root`.
    """
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    for config, splits in configs.items():
        data_files = []
        for split, columns in splits.items():
            (root / config).mkdir(parents=True, exist_ok=True)
            feats = (features or {}).get(config)
            n = len(next(iter(columns.values()))) if columns else 0
            paths = []
            for i in range(shards):
                rel = f"{config}/{split}-{i:05d}-of-{shards:05d}.parquet"
                part = dict(columns) if shards == 1 else {
                    k: list(v)[i * n // shards:(i + 1) * n // shards] for k, v in columns.items()}
                Dataset.from_dict(part, features=feats).to_parquet(str(root / rel))
                paths.append(rel)
            data_files.append({"split": split, "path": paths[0] if shards == 1 else paths})
        entries.append({"config_name": config, "data_files": data_files})
    return write_readme(root, entries, description)


def write_parquet_branch(
    root: Path,
    configs: Mapping[str, Mapping[str, Mapping[str, list]]],
    features: Mapping[str, Any] | None = None,
    description: str = "",
) -> Path:
    """Write (or add to) a snapshot of a repository's parquet conversion branch (`refs/convert/parquet`) from
    generated data: configs = {config: {split: {column: values}}} as {config}/{split}/0000.parquet, the layout
    `huggingface-cli download --revision refs/convert/parquet` gives. The branch lists no `configs:`; the
    README.md written beside the files only marks the snapshot synthetic. Returns `root`."""
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    for config, splits in configs.items():
        for split, columns in splits.items():
            (root / config / split).mkdir(parents=True, exist_ok=True)
            feats = (features or {}).get(config)
            Dataset.from_dict(dict(columns), features=feats).to_parquet(str(root / config / split / "0000.parquet"))
    header = yaml.safe_dump({SYNTHETIC_KEY: True}, sort_keys=False)
    (root / "README.md").write_text(f"---\n{header}---\n\n{description}\n", encoding="utf-8")
    return root


def write_readme(root: Path, entries: list[dict], description: str = "") -> Path:
    """Write root/README.md listing `entries` (plus configs already listed there) as a synthetic snapshot."""
    names = {e["config_name"] for e in entries}
    entries = [*entries, *(c for c in read_configs(root) if c["config_name"] not in names)]
    entries.sort(key=lambda c: c["config_name"])
    header = yaml.safe_dump({"configs": entries, SYNTHETIC_KEY: True}, sort_keys=False)
    (root / "README.md").write_text(f"---\n{header}---\n\n{description}\n", encoding="utf-8")
    return root


def front_matter(root: Path) -> dict:
    """The YAML front matter of a snapshot's README.md ({} when there is none); parsed once per README state
    and shared between callers: read it, never modify it."""
    readme = root / "README.md"
    if not readme.exists():
        return {}
    return _parsed_front_matter(readme, _stamp(readme))


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


@lru_cache(maxsize=256)
def _parsed_front_matter(readme: Path, stamp: tuple[int, int]) -> dict:
    text = readme.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return {}
    meta = yaml.safe_load(text.split("---", 2)[1]) or {}
    return meta if isinstance(meta, dict) else {}


def read_configs(root: Path) -> list[dict]:
    """The `configs:` entries of a snapshot's README.md front matter ([] when there is none)."""
    return list(front_matter(root).get("configs") or [])


def is_synthetic(root: Path) -> bool:
    """Whether the snapshot at `root` holds generated data (written by write_snapshot)."""
    return front_matter(root).get(SYNTHETIC_KEY) is True


def fingerprint(snapshot: Path) -> str:
    """A content fingerprint of a snapshot (README text plus every file's path, size and mtime); computed once per
    state of its README, which every download or write_snapshot rewrites (a grid loads hundreds of splits)."""
    readme = snapshot / "README.md"
    return _fingerprint(snapshot, _stamp(readme) if readme.exists() else None)


@lru_cache(maxsize=256)
def _fingerprint(snapshot: Path, stamp: tuple[int, int] | None) -> str:
    h = hashlib.sha256()
    readme = snapshot / "README.md"
    if readme.exists():
        h.update(readme.read_bytes())
    for path in sorted(p for p in snapshot.rglob("*") if p.is_file() and ".cache" not in p.parts):
        stat = path.stat()  # a file replaced by one of the same size still changes the fingerprint
        h.update(f"{path.relative_to(snapshot)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return "local-" + h.hexdigest()[:16]
