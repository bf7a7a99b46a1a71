"""Executors: the docker executor's container spec, its checks before any stage runs and its run loop (the
engine emulated by a subprocess; tests/test_docker.py runs the real one), and `xstilts run-stage`, the
command every container runs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import CLI, TINY_HPARAMS, write_experiment

from harness.errors import UserError
from harness.executors import docker as docker_executor
from harness.executors.docker import CONTAINER_HF_HOME, STAGE_LABEL, DockerExecutor, gpus_setting, lines
from harness.experiment import load_experiment
from harness.plan import plan

BODY = f"""name: executors
arms: [none]
targets:
  - {{task: pawsx, languages: [en, de]}}
{TINY_HPARAMS}"""


IMAGE_ID = "sha256:" + "ab" * 32


class _FakeContainer:
    """Runs the container's command on this machine, as the image would (same paths are mounted)."""

    def __init__(self, spec: dict):
        env = {**os.environ, **spec["environment"], "HF_HOME": os.environ["HF_HOME"]}  # host cache stands in
        self.proc = subprocess.run(
            [*CLI, *spec["command"]],
            cwd=spec["working_dir"], env=env, capture_output=True, timeout=600)

    def logs(self, stream=True, follow=True):
        out = self.proc.stdout + self.proc.stderr
        yield from (out[i:i + 7] for i in range(0, len(out), 7))  # cut anywhere, as a stream is

    def wait(self):
        return {"StatusCode": self.proc.returncode}

    def remove(self, v=False, force=False):
        self.removed = True


class _FakeImages:
    def __init__(self, missing=False):
        self.missing = missing

    def get(self, name):
        if self.missing:
            from docker.errors import ImageNotFound

            raise ImageNotFound(f"No such image: {name}")
        return type("Image", (), {"id": IMAGE_ID})()


class _FakeClient:
    def __init__(self):
        self.specs = []
        self.containers = self
        self.images = _FakeImages()

    def run(self, **spec):
        self.specs.append(spec)
        return _FakeContainer(spec)


def test_container_spec_mounts_what_the_stage_reads(offline_world, tmp_path, monkeypatch):
    exp = write_experiment(tmp_path / "e.yaml", offline_world, BODY)
    config = load_experiment(exp)
    stage = plan(config)[0]
    executor = DockerExecutor({"image": "xstilts:test", "gpus": "none", "hf_cache": str(tmp_path / "hf")},
                              model=config.model)
    spec = executor.container_spec(stage, tmp_path / "runs", config.data.settings())
    runs = str((tmp_path / "runs").resolve())
    assert spec["image"] == "xstilts:test" and spec["command"] == ["run-stage", runs, stage.key]
    assert spec["volumes"][runs] == {"bind": runs, "mode": "rw"}
    assert spec["volumes"][str(Path(offline_world["model"]).resolve())]["mode"] == "ro"
    assert spec["volumes"][str(Path(offline_world["hub"]).resolve())]["mode"] == "ro"
    assert spec["volumes"][str((tmp_path / "hf").resolve())] == {"bind": CONTAINER_HF_HOME, "mode": "rw"}
    assert spec["user"] == f"{os.getuid()}:{os.getgid()}" and "device_requests" not in spec
    assert spec["labels"] == {STAGE_LABEL: stage.key} and spec["environment"]["XSTILTS_IMAGE_NAME"] == "xstilts:test"
    gpu = DockerExecutor({"gpus": "all"}).container_spec(stage, tmp_path / "runs", config.data.settings())
    assert gpu["device_requests"][0]["Count"] == -1
    two = DockerExecutor({"gpus": 2}).container_spec(stage, tmp_path / "runs", config.data.settings())
    assert two["device_requests"][0]["Count"] == 2
    # the feature cache, given relative to the (read-only) working directory, is mounted writable by its path
    monkeypatch.setenv("XSTILTS_CACHE", "rel-cache")
    spec = executor.container_spec(stage, tmp_path / "runs", config.data.settings())
    cache = str(Path("rel-cache").resolve())
    assert spec["environment"]["XSTILTS_CACHE"] == cache and spec["volumes"][cache]["mode"] == "rw"


@pytest.mark.parametrize("has_gpus", [True, False])
def test_gpus_auto_asks_for_them_only_where_the_host_has_them(offline_world, tmp_path, monkeypatch, has_gpus):
    exp = write_experiment(tmp_path / "e.yaml", offline_world, BODY)
    config = load_experiment(exp)
    monkeypatch.setattr(docker_executor, "host_has_gpus", lambda: has_gpus)
    spec = DockerExecutor().container_spec(plan(config)[0], tmp_path / "runs", config.data.settings())
    assert ("device_requests" in spec) == has_gpus


def test_gpus_setting_values():
    assert [gpus_setting(v) for v in ("auto", "ALL", "none", 0, "0", 2, "3")] == ["auto", "all", "none", "none",
                                                                                  "none", 2, 3]
    for bad in ("two", True, -1, 1.5):
        with pytest.raises(UserError, match="executor_settings.gpus: .* use auto"):
            gpus_setting(bad)


def test_gpus_on_a_host_without_them_is_one_line_before_any_stage(offline_world, tmp_path, xstilts):
    if docker_executor.host_has_gpus():
        pytest.skip("this host has GPUs")
    exp = write_experiment(tmp_path / "e.yaml", offline_world,
                           BODY + "executor: docker\nexecutor_settings: {gpus: all}\n")
    code, _, err = xstilts("run", exp, "--output", tmp_path / "runs")
    assert code == 2 and "Traceback" not in err
    assert "executor_settings.gpus: all asks for GPUs, but this host has none" in err and "gpus: none" in err
    assert not [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]  # no stage started


def test_missing_image_names_it_and_make_image(monkeypatch):
    client = _FakeClient()
    client.images = _FakeImages(missing=True)
    monkeypatch.setattr(DockerExecutor, "_client", lambda self: client)
    with pytest.raises(UserError, match=r"image xstilts:nope is not in the Docker engine; build it with "
                                        r"`make image IMAGE=xstilts:nope`"):
        DockerExecutor({"image": "xstilts:nope", "gpus": "none"}).start()


def test_a_failing_container_is_one_line_with_its_log(offline_world, tmp_path, monkeypatch, capsys):
    class Failing(_FakeContainer):
        def __init__(self, spec):
            self.proc = subprocess.CompletedProcess([], 3, b"loading\rstep 1\n", b"Traceback (most recent...)\n"
                                                    b"RuntimeError: boom\n")
            self.removed = False
            containers.append(self)

    containers: list = []
    exp = write_experiment(tmp_path / "e.yaml", offline_world, BODY)
    config = load_experiment(exp)
    stage = plan(config)[0]
    client = _FakeClient()
    client.run = lambda **spec: Failing(spec)
    monkeypatch.setattr(DockerExecutor, "_client", lambda self: client)
    executor = DockerExecutor({"gpus": "none", "hf_cache": str(tmp_path / "hf")})
    executor.start()
    runs = tmp_path / "runs"
    with pytest.raises(UserError, match=r"failed in xstilts:latest \(exit code 3\): RuntimeError: boom "
                                        r"\(exit code 3\); log: .*stage\.log$"):
        executor.run_stage(stage, runs, config.data.settings(), False, None)
    assert containers[0].removed
    log = (runs / stage.key / "stage.log").read_text()
    assert log.splitlines()[1:] == ["loading", "step 1", "Traceback (most recent...)", "RuntimeError: boom"]
    assert f"  [{stage.key}] RuntimeError: boom" in capsys.readouterr().err
    failed = json.loads((runs / stage.key / "failed.json").read_text())
    assert failed["exit_code"] == 3 and failed["executor"] == "docker"


def test_lines_cut_anywhere():
    chunks = [b"a", b"b\nc", b"\xc3", b"\xa9\r", b"\nd\re", b"\n", b"\n", b"tail"]
    assert list(lines(chunks)) == ["ab", "c\u00e9", "d", "e", "", "tail"]


def test_environment_records_the_image_only_inside_one(monkeypatch):
    from harness.environment import image

    for var in [v for v in os.environ if v.startswith("XSTILTS_IMAGE_")]:
        monkeypatch.delenv(var)
    assert image() is None
    monkeypatch.setenv("XSTILTS_IMAGE_ID", IMAGE_ID)
    monkeypatch.setenv("XSTILTS_IMAGE_REVISION", "abc")
    monkeypatch.setenv("XSTILTS_IMAGE_BASE_DIGEST", "sha256:00")
    assert image() == {"id": IMAGE_ID, "revision": "abc", "base": {"digest": "sha256:00"}}


def test_unknown_setting_is_a_user_error(offline_world, tmp_path):
    with pytest.raises(UserError, match="unknown setting 'imag' for the docker executor"):
        DockerExecutor({"imag": "x"})
    exp = write_experiment(tmp_path / "e.yaml", offline_world, BODY + "executor: local\nexecutor_settings: {a: 1}\n")
    with pytest.raises(UserError, match="local executor takes none"):
        load_experiment(exp)


@pytest.mark.slow
def test_docker_executor_runs_every_stage_through_run_stage(offline_world, tmp_path, monkeypatch):
    from harness.cli.run import run_experiment

    exp = write_experiment(tmp_path / "e.yaml", offline_world,
                           BODY + "executor: docker\nexecutor_settings: {gpus: none}\n")
    client = _FakeClient()
    monkeypatch.setattr(DockerExecutor, "_client", lambda self: client)
    runs = tmp_path / "runs"
    counts = run_experiment(exp, runs, dry_run=False, allow_mixed=False)
    assert counts == {"ran": 2, "skipped": 0}
    assert [s["command"][-1] for s in client.specs] == [s.key for s in plan(load_experiment(exp))]
    assert {s["image"] for s in client.specs} == {IMAGE_ID}  # the image ID looked up once, at the start
    for key in (s["command"][-1] for s in client.specs):
        assert f"{key}: done" in (runs / key / "stage.log").read_text()
        recorded = json.loads((runs / key / "stage.json").read_text())["environment"]["image"]
        assert recorded["id"] == IMAGE_ID and recorded["name"] == "xstilts:latest"
    evaluate = next(p for p in runs.iterdir() if p.name.startswith("evaluate-"))
    metrics = json.loads((evaluate / "metrics.json").read_text())
    assert metrics["splits"]["test"]["score"] is not None
    assert run_experiment(exp, runs, dry_run=False, allow_mixed=False) == {"ran": 0, "skipped": 2}


def test_run_stage_errors(tmp_path, xstilts):
    code, _, err = xstilts("run-stage", tmp_path, "target-x-s1-000")
    assert code == 2 and "has no experiment.json" in err


def test_no_engine_is_one_line(offline_world, tmp_path, xstilts, monkeypatch):
    exp = write_experiment(tmp_path / "e.yaml", offline_world, BODY + "executor: docker\n")
    code, _, err = xstilts("run", exp, "--output", tmp_path / "runs", env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert code == 2 and "no Docker engine reachable" in err and "Traceback" not in err
