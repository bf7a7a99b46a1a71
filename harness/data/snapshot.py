"""Local snapshots of hub dataset repositories: the layout `huggingface-cli download --local-dir` writes.

A snapshot is a directory with a README.md whose YAML front matter lists `configs:` (config name and the
parquet `data_files` of each split) and the parquet files themselves. `datasets.load_dataset(DIR, CONFIG)`
reads it through the same packaged parquet builder that serves the hub repository.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


def write_snapshot(
    root: Path,
    configs: Mapping[str, Mapping[str, Mapping[str, list]]],
    features: Mapping[str, Any] | None = None,
    description: str = "",
) -> Path:
    """Write (or add to) a hub-style snapshot: configs = {config: {split: {column: values}}}.

    `features` maps config name to a `datasets.Features` so ClassLabel and Sequence types are embedded in
    the parquet files exactly as on the hub. Configs already listed in root/README.md are kept unless
    rewritten here, so several writers can fill one repository. Returns `root`.
    """
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    for config, splits in configs.items():
        data_files = []
        for split, columns in splits.items():
            rel = f"{config}/{split}-00000-of-00001.parquet"
            (root / config).mkdir(parents=True, exist_ok=True)
            feats = (features or {}).get(config)
            Dataset.from_dict(dict(columns), features=feats).to_parquet(str(root / rel))
            data_files.append({"split": split, "path": rel})
        entries.append({"config_name": config, "data_files": data_files})
    names = {e["config_name"] for e in entries}
    entries += [c for c in read_configs(root) if c["config_name"] not in names]
    entries.sort(key=lambda c: c["config_name"])
    header = yaml.safe_dump({"configs": entries}, sort_keys=False)
    (root / "README.md").write_text(f"---\n{header}---\n\n{description}\n", encoding="utf-8")
    return root


def read_configs(root: Path) -> list[dict]:
    """The `configs:` entries of a snapshot's README.md front matter ([] when there is none)."""
    readme = root / "README.md"
    if not readme.exists():
        return []
    text = readme.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return []
    meta = yaml.safe_load(text.split("---", 2)[1]) or {}
    return list(meta.get("configs", []))


def fingerprint(snapshot: Path) -> str:
    """A content fingerprint of a snapshot (README text plus every file's path and size)."""
    h = hashlib.sha256()
    readme = snapshot / "README.md"
    if readme.exists():
        h.update(readme.read_bytes())
    for path in sorted(p for p in snapshot.rglob("*") if p.is_file() and ".cache" not in p.parts):
        h.update(f"{path.relative_to(snapshot)}:{path.stat().st_size}".encode())
    return "local-" + h.hexdigest()[:16]
