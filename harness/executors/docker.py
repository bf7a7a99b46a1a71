"""Run each stage inside the pinned container image through the docker SDK.

Every stage becomes one container running `xstilts run-stage RUNS_DIR KEY`, which re-plans the recorded
experiment and runs exactly that stage, so a stage's directory and results are the same as with the local
executor. Host paths the stage reads (the working directory, the runs directory, a local model, data
snapshots and raw data directories) are bind-mounted at the same absolute paths, the HF cache at the
image's HF_HOME, and the container runs as the calling user so files stay theirs.

Settings (experiment `executor_settings`): image (default xstilts:latest), gpus ("all", a count, or
"none"), hf_cache (host directory, default $HF_HOME or ~/.cache/huggingface), mounts (extra host paths,
read-only), env (extra environment variables).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.data.settings import SNAPSHOT_ENV, DataSettings
from harness.errors import UserError
from harness.executors.base import Executor
from harness.plan import Stage

CONTAINER_HF_HOME = "/cache/hf"
PASSED_ENV = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_TOKEN", SNAPSHOT_ENV, "XSTILTS_CACHE", "OMP_NUM_THREADS")


STOP_TIMEOUT = 120
"""Seconds a stopped container gets to write its checkpoint before it is killed."""

class DockerExecutor(Executor):
    """One container per stage."""

    name = "docker"
    SETTINGS = ("image", "gpus", "hf_cache", "mounts", "env")

    def __init__(self, settings: dict[str, Any] | None = None, model: str | None = None) -> None:
        super().__init__(settings, model)
        self.image = str(self.settings.get("image", "xstilts:latest"))
        self.gpus = self.settings.get("gpus", "all")
        default_cache = os.environ.get("HF_HOME", "~/.cache/huggingface")
        self.hf_cache = Path(self.settings.get("hf_cache", default_cache)).expanduser().resolve()
        self.mounts = [Path(p).expanduser().resolve() for p in self.settings.get("mounts", [])]
        self.env = {str(k): str(v) for k, v in self.settings.get("env", {}).items()}
        self.client: Any = None

    def _read_paths(self, data: DataSettings) -> list[Path]:
        candidates = [self.model or "", data.snapshot_root or os.environ.get(SNAPSHOT_ENV, "")]
        candidates += list(data.snapshots.values()) + list(data.data_dirs.values())
        paths = [Path(c).expanduser().resolve() for c in candidates if c and Path(c).expanduser().exists()]
        return sorted(set(paths + self.mounts))

    def container_spec(self, stage: Stage, runs_dir: Path, data: DataSettings) -> dict[str, Any]:
        """Keyword arguments for `client.containers.run` (pure: no engine needed)."""
        runs = runs_dir.resolve()
        cwd = Path.cwd().resolve()
        volumes: dict[str, dict[str, str]] = {str(cwd): {"bind": str(cwd), "mode": "ro"}}
        for path in self._read_paths(data):
            volumes[str(path)] = {"bind": str(path), "mode": "ro"}
        if data.cache_dir:
            cache_dir = Path(data.cache_dir).expanduser().resolve()
            volumes[str(cache_dir)] = {"bind": str(cache_dir), "mode": "rw"}
        volumes[str(runs)] = {"bind": str(runs), "mode": "rw"}
        volumes[str(self.hf_cache)] = {"bind": CONTAINER_HF_HOME, "mode": "rw"}
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        env.update({"HF_HOME": CONTAINER_HF_HOME, **self.env})
        spec: dict[str, Any] = {
            "image": self.image,
            "command": ["run-stage", str(runs), stage.key],
            "volumes": volumes,
            "working_dir": str(cwd),
            "environment": env,
            "user": f"{os.getuid()}:{os.getgid()}",
            "detach": True,
        }
        requests = self._device_requests()
        if requests:
            spec["device_requests"] = requests
        return spec

    def _device_requests(self) -> list:
        if self.gpus in (None, "none", 0, "0"):
            return []
        from docker.types import DeviceRequest

        count = -1 if self.gpus == "all" else int(self.gpus)
        return [DeviceRequest(count=count, capabilities=[["gpu"]])]

    def _client(self):
        try:
            import docker

            client = docker.from_env()
            client.ping()
            return client
        except Exception as exc:  # no engine, no permission: the user can fix both
            raise UserError(f"docker executor: no Docker engine reachable ({type(exc).__name__}); start dockerd, "
                            "or set `executor: local`") from None

    def start(self) -> None:
        self.client = self._client()

    def run_stage(self, stage: Stage, runs_dir: Path, data: DataSettings, trust_remote_code: bool,
                  progress: Callable | None) -> bool:
        """`xstilts run-stage` in a container (trust_remote_code is in the recorded experiment it re-plans)."""
        container = self.client.containers.run(**self.container_spec(stage, runs_dir, data))
        tail: list[str] = []
        try:
            for chunk in container.logs(stream=True, follow=True):
                tail = (tail + chunk.decode("utf-8", "replace").splitlines())[-20:]
            status = container.wait().get("StatusCode", 1)
        except BaseException:  # Ctrl-C on the host: SIGTERM the stage, which checkpoints
            container.stop(timeout=STOP_TIMEOUT)
            raise
        finally:
            container.remove()
        if status == 2:
            last = next((line for line in reversed(tail) if line.startswith("error: ")), f"exit {status}")
            raise UserError(f"stage {stage.key} (in {self.image}): {last.removeprefix('error: ')}")
        if status != 0:
            raise RuntimeError(f"stage {stage.key} failed in container {self.image} with exit code {status}:\n"
                               + "\n".join(tail))
        return True
