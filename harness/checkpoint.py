"""Resumable training checkpoints inside a stage directory.

stage_dir/checkpoint/ holds what accelerate's `Accelerator.save_state` writes (model, optimizer, the objects
registered for checkpointing such as the LR scheduler, the fp16 grad scaler, the python, numpy and torch
RNG states) and state.pt: the loop's own state (position in its precomputed schedule, keep-best and
early-stopping state) and the checkpoint's identity, the stage key and a hash of the stage config. A
checkpoint of another stage or config is refused, so it is never mixed into another computation.

The directory is written as a temporary sibling and renamed into place: a checkpoint appears whole or not
at all, and a kill mid-save leaves the previous one.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.store import follow_umask

STATE_FILE = "state.pt"
"""The loop's state and the checkpoint's identity, beside accelerate's files."""


def config_hash(config: Any) -> str:
    """A stable hash of a JSON-ready stage config."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def rng_digest() -> str:
    """A hash of the RNG states accelerate saves (python, numpy, torch CPU and CUDA).

    Own code because `load_state` swallows any failure to restore them (it only logs "Could not load random
    states"), and a resume with fresh RNG states would silently differ from an uninterrupted run.
    """
    import numpy as np
    import torch

    digest = hashlib.sha256(repr(random.getstate()).encode())
    _, keys, *rest = np.random.get_state()
    digest.update(keys.tobytes() + repr(rest).encode())
    # the CUDA state of the device training runs on only: resuming with another number of visible GPUs is fine
    for state in [torch.get_rng_state(), *([torch.cuda.get_rng_state()] if torch.cuda.is_available() else [])]:
        digest.update(state.numpy().tobytes())
    return digest.hexdigest()[:16]


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
        old = _sibling(self.directory, "old")
        if not self.directory.exists() and old.exists():  # killed between the two renames of save()
            os.replace(old, self.directory)
        return self.path.is_file()

    def save(self, state: dict[str, Any], accelerator: Any = None) -> None:
        """Write `state`, this checkpoint's identity and (with an `accelerator`) its `save_state`."""
        import torch

        tmp, old = _sibling(self.directory, "partial"), _sibling(self.directory, "old")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        identity = {"stage": self.stage, "config": self.config}
        if accelerator is not None:
            accelerator.save_state(str(tmp))
            state = {**state, "rng_digest": rng_digest()}
        torch.save({**state, "identity": identity}, tmp / STATE_FILE)
        follow_umask(tmp)
        shutil.rmtree(old, ignore_errors=True)
        if self.directory.exists():
            os.replace(self.directory, old)
        os.replace(tmp, self.directory)
        shutil.rmtree(old, ignore_errors=True)

    def load(self, expect: dict[str, Any], accelerator: Any = None) -> dict[str, Any] | None:
        """The saved state, or None; a checkpoint of another stage, config or schedule is a UserError.

        With an `accelerator` (after `prepare`), its `load_state` restores what `save` saved through it.
        """
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
        if accelerator is not None:
            accelerator.load_state(str(self.directory))
            if rng_digest() != state.get("rng_digest"):
                raise RuntimeError(f"accelerate did not restore the RNG states saved in {self.directory}; a "
                                   "resumed run would differ from an uninterrupted one")
        return state


def _sibling(directory: Path, role: str) -> Path:
    """Where `save` writes the next checkpoint ("partial") and parks the previous one ("old")."""
    return directory.with_name(f".{directory.name}.{role}")


def discard(directory: Path) -> None:
    """Remove the checkpoint in `directory` and any leftover of an interrupted save."""
    for path in (directory, _sibling(directory, "partial"), _sibling(directory, "old")):
        shutil.rmtree(path, ignore_errors=True)


class Interrupted(KeyboardInterrupt):
    """Training stopped on SIGTERM or SIGINT (Ctrl-C) after writing a checkpoint; running the experiment again
    resumes. Its message is the one line the CLI prints: the stage, the step and the checkpoint directory."""


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_flag() -> Iterator[dict[str, Any]]:
    """{"set": bool, "signal": name}: set by SIGTERM or SIGINT while the block runs (the loop checkpoints and
    stops at the end of the current optimizer step). A second Ctrl-C stops at once (KeyboardInterrupt), losing
    the steps since the last checkpoint, for a step that takes too long."""
    flag: dict[str, Any] = {"set": False, "signal": None}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: Any) -> None:
        if flag["set"] and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag["set"], flag["signal"] = True, flag["signal"] or signal.Signals(signum).name

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


_DEFERRED: dict[str, str | None] = {"signal": None}
"""A stop signal that arrived when the stage had no step left to stop after (process-wide, like signals)."""


def defer_stop(signal_name: str) -> None:
    """Remember a stop request that came during a stage's last step: the stage finishes, the run stops."""
    _DEFERRED["signal"] = signal_name


def take_deferred_stop() -> str | None:
    """The deferred stop signal's name, once (None when there is none)."""
    name, _DEFERRED["signal"] = _DEFERRED["signal"], None
    return name


def ignore_sigint(*_: Any) -> None:
    """DataLoader `worker_init_fn`: Ctrl-C in a terminal (SIGINT) or a job scheduler (SIGTERM) signals the whole
    process group; a worker must keep serving batches while the main process finishes its step and writes the
    checkpoint (the main process shuts its workers down)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
