"""The lock files (requirements/*.lock, `make lock`) agree with pyproject.toml.

A dependency added, removed or re-pinned in pyproject without `make lock` fails here, so the venv, the CPU
image and the CUDA image never install something pyproject does not say.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCKS = {"cpu.lock": ("cpu",), "dev.lock": ("cpu", "dev"), "cuda.lock": ("cuda",)}
CUDA_RUNTIME = re.compile(r"^(nvidia-|cuda-|triton$)")


def read_lock(path: Path) -> dict[str, tuple[str, set[str]]]:
    """{package: (version, names it is pulled in by)} from a uv/pip-tools style requirements file."""
    pins: dict[str, tuple[str, set[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
        if pin:
            current = canonicalize_name(pin.group(1))
            pins[current] = (pin.group(2), set())
        elif current and line.lstrip().startswith("#"):
            text = line.strip("# ").removeprefix("via").strip()
            if text:
                pins[current][1].add(text.split()[0])
    return pins


def declared(extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in extras:
        specs += project["optional-dependencies"][extra]
    return [Requirement(s) for s in specs]


@pytest.mark.parametrize("lock,extras", sorted(LOCKS.items()))
def test_every_declared_dependency_is_pinned_within_its_range(lock, extras):
    pins = read_lock(ROOT / "requirements" / lock)
    for req in declared(extras):
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in pyproject.toml but not in requirements/{lock}: run `make lock`"
        assert req.specifier.contains(pins[name][0], prereleases=True), (
            f"requirements/{lock} pins {name}=={pins[name][0]}, pyproject.toml asks {req}: run `make lock`")


@pytest.mark.parametrize("lock,extras", sorted(LOCKS.items()))
def test_nothing_is_locked_for_xstilts_that_pyproject_no_longer_declares(lock, extras):
    pins = read_lock(ROOT / "requirements" / lock)
    direct = {canonicalize_name(r.name) for r in declared(extras)}
    from_project = {name for name, (_, via) in pins.items() if "xstilts" in via}
    assert from_project == direct, f"requirements/{lock} is stale: run `make lock`"


def test_cpu_locks_carry_no_cuda_runtime_and_the_cuda_lock_no_cpu_faiss():
    for lock in ("cpu.lock", "dev.lock"):
        cuda = sorted(n for n in read_lock(ROOT / "requirements" / lock) if CUDA_RUNTIME.match(n))
        assert not cuda, f"requirements/{lock} would install CUDA packages: {cuda}"
    cuda_lock = read_lock(ROOT / "requirements" / "cuda.lock")
    assert "faiss-gpu" in cuda_lock and "faiss-cpu" not in cuda_lock
    assert any(CUDA_RUNTIME.match(n) for n in cuda_lock)


def test_the_locks_agree_on_every_package_they_share():
    locks = {name: read_lock(ROOT / "requirements" / name) for name in LOCKS}
    for a in locks:
        for b in locks:
            shared = set(locks[a]) & set(locks[b])
            differ = sorted(n for n in shared if locks[a][n][0] != locks[b][n][0])
            assert not differ, f"requirements/{a} and {b} pin different versions of {differ}: run `make lock`"
