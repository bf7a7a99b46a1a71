"""Executors: the docker executor's container spec and its run loop (the engine emulated by a subprocess),
and `xstilts run-stage`, the command every container runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_HPARAMS, write_experiment

from harness.errors import UserError
from harness.executors.docker import CONTAINER_HF_HOME, DockerExecutor
from harness.experiment import load_experiment
from harness.plan import plan

BODY = f"""name: executors
arms: [none]
targets:
  - {{task: pawsx, languages: [en, de]}}
{TINY_HPARAMS}"""


class _FakeContainer:
    """Runs the container's command on this machine, as the image would (same paths are mounted)."""

    def __init__(self, spec: dict):
        env = {**os.environ, **spec["environment"], "HF_HOME": os.environ["HF_HOME"]}  # host cache stands in
        self.proc = subprocess.run(
            [sys.executable, "-c", "from harness.cli.main import main; main()", *spec["command"]],
            cwd=spec["working_dir"], env=env, capture_output=True, timeout=600)

    def logs(self, stream=True, follow=True):
        yield self.proc.stdout + self.proc.stderr

    def wait(self):
        return {"StatusCode": self.proc.returncode}

    def remove(self):
        pass


class _FakeClient:
    def __init__(self):
        self.specs = []
        self.containers = self

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
    gpu = DockerExecutor({"gpus": "all"}).container_spec(stage, tmp_path / "runs", config.data.settings())
    assert gpu["device_requests"][0]["Count"] == -1


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
