"""Run each stage inside the pinned container image through the docker SDK.

Every stage becomes one container running `xstilts run-stage RUNS_DIR KEY`, which re-plans the recorded
experiment and runs exactly that stage, so a stage's directory and results are the same as with the local
executor (the image must hold the same code: stage keys fingerprint it). Host paths the stage reads (the
working directory, the runs directory, a local model, data snapshots and raw data directories) are
bind-mounted at the same absolute paths, the HF cache at the image's HF_HOME, and the container runs as the
calling user so files stay theirs. The container's output is printed as it comes (each line prefixed with
the stage key) and kept in runs/<key>/stage.log; the container is removed whatever happens.

Settings (experiment `executor_settings`): image (default xstilts:latest, built by `make image`), gpus
("auto": every GPU when the host has any, else none; "all", a count, or "none"), hf_cache (host directory,
default $HF_HOME or ~/.cache/huggingface), mounts (extra host paths, read-only), env (extra environment
variables).
"""

from __future__ import annotations

import codecs
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.data.settings import SNAPSHOT_ENV, DataSettings
from harness.errors import UserError
from harness.executors.base import Executor
from harness.executors.devices import host_has_gpus
from harness.executors.failures import ATTEMPT_MARK, error_line, record_failure
from harness.layout import STAGE_LOG
from harness.plan import Stage

CONTAINER_HF_HOME = "/cache/hf"
PASSED_ENV = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_TOKEN", SNAPSHOT_ENV, "OMP_NUM_THREADS")
CACHE_ENV = "XSTILTS_CACHE"
"""The feature cache: passed as an absolute path and mounted read-write (the working directory is read-only)."""
DEFAULT_IMAGE = "xstilts:latest"
STAGE_LABEL = "org.xstilts.stage"
"""Label on every container this executor starts: the stage key."""

STOP_TIMEOUT = 120
"""Seconds a stopped container gets to write its checkpoint before it is killed."""


def gpus_setting(value: Any) -> str | int:
    """The `gpus` setting checked: "auto", "all", "none", or a count >= 1 (0 is "none")."""
    if isinstance(value, str) and value.strip().lower() in ("auto", "all", "none"):
        return value.strip().lower()
    if not isinstance(value, bool) and isinstance(value, (int, str)) and str(value).strip().isdigit():
        return int(value) or "none"
    raise UserError(f"executor_settings.gpus: {value!r} is not a GPU request; use auto (the host's GPUs when it "
                    "has any), all, none, or a count")


def lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Text lines of a byte stream cut anywhere (a carriage return ends a line too, as progress bars use it)."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    pending = ""
    for chunk in chunks:
        parts = (pending + decoder.decode(chunk)).splitlines(keepends=True)
        # the last part waits for more: it has no line end yet, or a "\r" whose "\n" may be in the next chunk
        pending = parts.pop() if parts and not parts[-1].endswith("\n") else ""
        yield from (part.rstrip("\r\n") for part in parts)
    yield from (part.rstrip("\r\n") for part in (pending + decoder.decode(b"", final=True)).splitlines())


class DockerExecutor(Executor):
    """One container per stage."""

    name = "docker"
    SETTINGS = ("image", "gpus", "hf_cache", "mounts", "env")

    def __init__(self, settings: dict[str, Any] | None = None, model: str | None = None) -> None:
        super().__init__(settings, model)
        self.image = str(self.settings.get("image", DEFAULT_IMAGE))
        self.gpus = gpus_setting(self.settings.get("gpus", "auto"))
        default_cache = os.environ.get("HF_HOME", "~/.cache/huggingface")
        self.hf_cache = Path(self.settings.get("hf_cache", default_cache)).expanduser().resolve()
        self.mounts = [Path(p).expanduser().resolve() for p in self.settings.get("mounts", [])]
        self.env = {str(k): str(v) for k, v in self.settings.get("env", {}).items()}
        self.client: Any = None
        self.image_id: str | None = None
        """The ID of `image` when the run started (looked up by `start`): what every stage runs."""

    def _read_paths(self, data: DataSettings) -> list[Path]:
        candidates = [self.model or "", data.snapshot_root or os.environ.get(SNAPSHOT_ENV, "")]
        candidates += list(data.snapshots.values()) + list(data.data_dirs.values())
        paths = [Path(c).expanduser().resolve() for c in candidates if c and Path(c).expanduser().exists()]
        return sorted(set(paths + self.mounts))

    @staticmethod
    def _feature_cache() -> Path | None:
        value = os.environ.get(CACHE_ENV, "")
        return None if value in ("", "off") else Path(value).expanduser().resolve()

    def container_spec(self, stage: Stage, runs_dir: Path, data: DataSettings) -> dict[str, Any]:
        """Keyword arguments for `client.containers.run` (pure: no engine needed)."""
        runs = runs_dir.resolve()
        cwd = Path.cwd().resolve()
        volumes: dict[str, dict[str, str]] = {str(cwd): {"bind": str(cwd), "mode": "ro"}}
        for path in self._read_paths(data):
            volumes[str(path)] = {"bind": str(path), "mode": "ro"}
        writable = [Path(data.cache_dir).expanduser().resolve()] if data.cache_dir else []
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        cache = self._feature_cache()
        if cache is not None:
            writable.append(cache)
            env[CACHE_ENV] = str(cache)
        elif CACHE_ENV in os.environ:
            env[CACHE_ENV] = os.environ[CACHE_ENV]
        for path in [*writable, runs]:
            volumes[str(path)] = {"bind": str(path), "mode": "rw"}
        volumes[str(self.hf_cache)] = {"bind": CONTAINER_HF_HOME, "mode": "rw"}
        env.update({"HF_HOME": CONTAINER_HF_HOME, "XSTILTS_IMAGE_NAME": self.image})
        if self.image_id:
            env["XSTILTS_IMAGE_ID"] = self.image_id
        env.update(self.env)
        spec: dict[str, Any] = {
            "image": self.image_id or self.image,
            "command": ["run-stage", str(runs), stage.key],
            "volumes": volumes,
            "working_dir": str(cwd),
            "environment": env,
            "user": f"{os.getuid()}:{os.getgid()}",
            "labels": {STAGE_LABEL: stage.key},
            "detach": True,
        }
        count = self.gpu_count()
        if count is not None:
            from docker.types import DeviceRequest

            spec["device_requests"] = [DeviceRequest(count=count, capabilities=[["gpu"]])]
        return spec

    def gpu_count(self) -> int | None:
        """GPUs each container asks for: -1 for all, a count, or None for none (`auto` asks the host)."""
        if self.gpus == "auto":
            return -1 if host_has_gpus() else None
        if self.gpus == "none":
            return None
        return -1 if self.gpus == "all" else int(self.gpus)

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
        """Check the GPU request against the host, reach the engine, find the image: before any stage runs."""
        if self.gpus not in ("auto", "none") and not host_has_gpus():
            raise UserError(f"executor_settings.gpus: {self.gpus} asks for GPUs, but this host has none (no "
                            "/dev/nvidia*, no working nvidia-smi); set `gpus: auto` or `gpus: none`, or run on a "
                            "GPU host")
        self.client = self._client()
        from docker.errors import ImageNotFound

        try:
            self.image_id = self.client.images.get(self.image).id
        except ImageNotFound:
            raise UserError(f"docker executor: image {self.image} is not in the Docker engine; build it with "
                            f"`make image IMAGE={self.image}`, or set executor_settings.image") from None
        for path in [self.hf_cache, self._feature_cache()]:
            if path is not None:
                try:
                    path.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise UserError(f"docker executor: cannot create {path} to mount it ({exc.strerror}); set "
                                    "executor_settings.hf_cache (or XSTILTS_CACHE) to a writable directory") from None

    def _run_container(self, spec: dict[str, Any]):
        from docker.errors import APIError

        try:
            return self.client.containers.run(**spec)
        except APIError as exc:
            if "device_requests" in spec and "device driver" in str(exc):
                raise UserError(f"docker executor: the engine cannot give containers GPUs ({exc.explanation}); "
                                "install the NVIDIA Container Toolkit and restart dockerd, or set `gpus: none`"
                                ) from None
            raise

    def run_stage(self, stage: Stage, runs_dir: Path, data: DataSettings, trust_remote_code: bool,
                  progress: Callable | None) -> bool:
        """`xstilts run-stage` in a container (trust_remote_code is in the recorded experiment it re-plans)."""
        log = runs_dir / stage.key / STAGE_LOG
        log.parent.mkdir(parents=True, exist_ok=True)
        spec = self.container_spec(stage, runs_dir, data)
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{ATTEMPT_MARK}{time.strftime('%Y-%m-%d %H:%M:%S')} docker {self.image} ({spec['image']}): "
                      f"xstilts {' '.join(spec['command'])}\n")
            out.flush()
            container = self._run_container(spec)
            try:
                for line in lines(container.logs(stream=True, follow=True)):
                    out.write(line + "\n")
                    out.flush()
                    print(f"  [{stage.key}] {line}", file=sys.stderr, flush=True)
                status = container.wait().get("StatusCode", 1)
            except BaseException:  # Ctrl-C on the host: SIGTERM the stage, which checkpoints
                container.stop(timeout=STOP_TIMEOUT)
                raise
            finally:
                container.remove(v=True, force=True)  # with its anonymous volumes (/cache, /runs)
        if status != 0:
            error = error_line(log, status)
            if status == 137:
                error += "; 137: the container was killed (out of memory?)"
            record_failure(runs_dir / stage.key, log=log, exit_code=status, error=error, executor=self.name)
            raise UserError(f"stage {stage.key} failed in {self.image} (exit code {status}): {error}; log: "
                            f"{log.resolve()}")
        return True
