"""Which GPUs this process may use, found without importing torch (planning stays fast).

`visible_gpus()` reads CUDA_VISIBLE_DEVICES when it is set (CUDA's own rule: the list ends at the first
invalid entry, so "" or "-1" means none), else asks `nvidia-smi`; no driver, no GPU: an empty list.
`default_jobs()` is what `xstilts run --jobs` defaults to: one concurrent stage per visible GPU, else 1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"


def visible_gpus() -> list[str]:
    """The device names a child process can be given in CUDA_VISIBLE_DEVICES (indices or UUIDs), in order."""
    listed = os.environ.get(VISIBLE_ENV)
    if listed is not None:
        gpus: list[str] = []
        for entry in (e.strip() for e in listed.split(",")):
            if not entry or entry.startswith("-"):
                break
            gpus.append(entry)
        return gpus
    return _nvidia_smi_indices()


def _nvidia_smi_indices() -> list[str]:
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return []
    try:
        out = subprocess.run([tool, "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):  # a driver that does not answer: no usable GPU
        return []
    return [line.strip() for line in out.splitlines() if line.strip().isdigit()]


@lru_cache(maxsize=1)
def host_has_gpus() -> bool:
    """Whether this host has an NVIDIA GPU, whatever this process may see (what a container can be given):
    a /dev/nvidia<N> device, or one that `nvidia-smi` lists."""
    if any(p.name[len("nvidia"):].isdigit() for p in Path("/dev").glob("nvidia*")):
        return True
    return bool(_nvidia_smi_indices())


def default_jobs() -> int:
    """One stage per visible GPU, at least 1."""
    return max(1, len(visible_gpus()))


def slot_gpu(gpus: list[str], slot: int) -> str | None:
    """The GPU that concurrency slot `slot` runs on (slots share GPUs round-robin when there are more slots
    than GPUs); None without GPUs."""
    return gpus[slot % len(gpus)] if gpus else None
