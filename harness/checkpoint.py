"""Resumable training checkpoints inside a stage directory.

One file, stage_dir/checkpoint/state.pt, replaced atomically: model, optimizer and scheduler states, the
loop's position in its precomputed schedule, keep-best and early-stopping state, and every RNG state
(python, numpy, torch CPU and CUDA). It records the stage key and a hash of the stage config and is refused
when either differs, so a checkpoint is never mixed into another computation.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UserError

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.pt"


def config_hash(config: Any) -> str:
    """A stable hash of a JSON-ready stage config."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) RNG states, in torch.load(weights_only=True)-safe types."""
    import numpy as np
    import torch

    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "gauss": float(gauss)}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass(frozen=True)
class Checkpointer:
    """Where one stage keeps its resumable state, and whose state it is."""

    directory: Path
    stage: str
    """Stage key the checkpoint belongs to."""
    config: str
    """config_hash() of the stage's resolved config."""

    @property
    def path(self) -> Path:
        return self.directory / STATE_FILE

    def exists(self) -> bool:
        return self.path.is_file()

    def save(self, state: dict[str, Any]) -> None:
        """Write `state` plus this checkpoint's identity; a kill mid-write leaves the previous one intact."""
        import torch

        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{STATE_FILE}.tmp"
        torch.save({**state, "identity": {"stage": self.stage, "config": self.config}}, tmp)
        os.replace(tmp, self.path)

    def load(self, expect: dict[str, Any]) -> dict[str, Any] | None:
        """The saved state, or None; a checkpoint of another stage, config or schedule is a UserError."""
        import torch

        if not self.exists():
            return None
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        ident = state.get("identity", {})
        if ident != {"stage": self.stage, "config": self.config}:
            raise UserError(f"checkpoint {self.path} belongs to stage {ident.get('stage')} with config "
                            f"{ident.get('config')}, not {self.stage} with config {self.config}; delete "
                            f"{self.directory} to start this stage afresh")
        for key, value in expect.items():
            if state.get(key) != value:
                raise UserError(f"checkpoint {self.path} was written for {key}={state.get(key)!r}, this run "
                                f"has {value!r}; delete {self.directory} to start this stage afresh")
        return state


class Interrupted(KeyboardInterrupt):
    """Training stopped on SIGTERM after writing a checkpoint; running the experiment again resumes."""


@contextmanager
def sigterm_flag() -> Iterator[dict[str, bool]]:
    """A flag set by SIGTERM while the block runs (the loop checkpoints and stops at the next step)."""
    flag = {"set": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: Any) -> None:
        flag["set"] = True

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)
