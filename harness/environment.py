"""What a result was computed with: versions, git commit, device, and the container image when a stage runs
in one. Recorded in every stage.json (never part of a stage's key)."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from harness import __version__

PACKAGES = ("torch", "transformers", "datasets", "accelerate", "tokenizers", "faiss-cpu", "faiss-gpu", "numpy")

IMAGE_ENV = {
    "name": "XSTILTS_IMAGE_NAME",
    "id": "XSTILTS_IMAGE_ID",
    "version": "XSTILTS_IMAGE_VERSION",
    "revision": "XSTILTS_IMAGE_REVISION",
    "created": "XSTILTS_IMAGE_CREATED",
    "source": "XSTILTS_IMAGE_SOURCE",
    "lock": "XSTILTS_IMAGE_LOCK",
}
"""image record field -> environment variable. The Dockerfile sets all but name and id (its OCI labels'
values); the docker executor passes the image's name and the ID it ran."""
BASE_ENV = {"name": "XSTILTS_IMAGE_BASE_NAME", "digest": "XSTILTS_IMAGE_BASE_DIGEST"}


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The harness checkout's commit (with "-dirty" for local changes), or None outside a git checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def device() -> dict[str, Any]:
    import torch

    if torch.cuda.is_available():
        return {"type": "cuda", "name": torch.cuda.get_device_name(0), "count": torch.cuda.device_count()}
    return {"type": "cpu", "threads": torch.get_num_threads()}


def image() -> dict[str, Any] | None:
    """The container image this process runs in, from the XSTILTS_IMAGE_* variables; None outside one."""
    record: dict[str, Any] = {key: os.environ[var] for key, var in IMAGE_ENV.items() if os.environ.get(var)}
    base = {key: os.environ[var] for key, var in BASE_ENV.items() if os.environ.get(var)}
    if base:
        record["base"] = base
    return record or None


def environment() -> dict[str, Any]:
    """Versions of python and the stack, the xstilts version and commit, the device, and the image (or None)."""
    return {
        "xstilts": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "device": device(),
        "image": image(),
    }
