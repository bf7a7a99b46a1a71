"""The docker executor on the real engine, with the image `make image` builds (named by XSTILTS_TEST_IMAGE):
a smoke-style experiment gives byte-identical metrics.json in containers and in this process, the image is
recorded, logs come through, exit codes come back, containers (and their anonymous volumes) are removed.

Skipped without an engine or without the image, unless XSTILTS_REQUIRE_SERVICES=1 (CI: `.ci/docker.sh ci`),
where either is a failure. The image must hold this checkout's code (stage keys fingerprint it): rebuild it
after a change.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from conftest import TINY_HPARAMS, write_experiment

from harness.errors import UserError
from harness.executors.docker import STAGE_LABEL, DockerExecutor

pytestmark = pytest.mark.docker

BODY = f"""name: docker-smoke
arms: [none, mnli]
targets:
  - {{task: pawsx, languages: [en, de]}}   # classification, through an intermediate stage
  - {{task: tatoeba, languages: [de]}}     # retrieval (FAISS inside the image)
{TINY_HPARAMS}"""


def _unavailable(reason: str):
    if os.environ.get("XSTILTS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"XSTILTS_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def engine():
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as exc:  # no engine here: skip (or fail in CI)
        _unavailable(f"no Docker engine reachable ({type(exc).__name__}); start dockerd")
    return client


@pytest.fixture(scope="module")
def image(engine):
    """The image (its `name` attribute set to XSTILTS_TEST_IMAGE as given: a tag or an ID)."""
    from docker.errors import ImageNotFound

    name = os.environ.get("XSTILTS_TEST_IMAGE")
    if not name:
        _unavailable("XSTILTS_TEST_IMAGE is not set; build an image of this checkout (`make image BASE=... "
                     "LOCK=cpu IMAGE=xstilts:ci`, as .ci/docker.sh does) and name it there")
    try:
        found = engine.images.get(name)
    except ImageNotFound:
        _unavailable(f"image {name} (XSTILTS_TEST_IMAGE) is not in the Docker engine; build it with "
                     f"`make image IMAGE={name}`")
    found.name = name
    return found


def _leftover_containers(engine, keys) -> list:
    return [c for key in keys for c in engine.containers.list(all=True, filters={"label": f"{STAGE_LABEL}={key}"})]


def _dangling_volumes(engine) -> set[str]:
    return {v.name for v in engine.volumes.list(filters={"dangling": True})}


@pytest.mark.slow
def test_docker_executor_gives_the_local_metrics_byte_for_byte(offline_world, tmp_path, engine, image, capsys):
    from harness.cli.run import run_experiment

    local_exp = write_experiment(tmp_path / "local.yaml", offline_world, BODY)
    docker_exp = write_experiment(tmp_path / "docker.yaml", offline_world,
                                  BODY + f"executor: docker\nexecutor_settings: {{image: '{image.name}'}}\n")
    local, in_docker = tmp_path / "local", tmp_path / "docker"
    assert run_experiment(local_exp, local, dry_run=False, allow_mixed=False)["skipped"] == 0
    volumes = _dangling_volumes(engine)
    counts = run_experiment(docker_exp, in_docker, dry_run=False, allow_mixed=False)
    err = capsys.readouterr().err

    keys = sorted(p.name for p in local.iterdir() if (p / "done").exists())
    assert counts == {"ran": len(keys), "skipped": 0} and len(keys) == 7
    assert sorted(p.name for p in in_docker.iterdir() if (p / "done").exists()) == keys
    for key in keys:
        assert (in_docker / key / "metrics.json").read_bytes() == (local / key / "metrics.json").read_bytes(), key
        recorded = json.loads((in_docker / key / "stage.json").read_text())["environment"]
        assert recorded["image"]["id"] == image.id and recorded["image"]["revision"]
        assert recorded["image"]["name"] == image.name
        assert json.loads((local / key / "stage.json").read_text())["environment"]["image"] is None
        assert f"  [{key}] {key}: done" in err  # the container's output, streamed through
        assert f"{key}: done" in (in_docker / key / "stage.log").read_text()
    assert not _leftover_containers(engine, keys) and _dangling_volumes(engine) <= volumes
    # again: every stage is done, no container starts
    assert run_experiment(docker_exp, in_docker, dry_run=False, allow_mixed=False) == {"ran": 0, "skipped": 7}


def test_a_failing_container_comes_back_as_one_line(offline_world, tmp_path, engine, image):
    from harness.execute import record_experiment
    from harness.experiment import load_experiment
    from harness.plan import plan, plan_record

    config = load_experiment(write_experiment(tmp_path / "e.yaml", offline_world, BODY))
    stages = plan(config)
    runs = tmp_path / "runs"
    runs.mkdir()
    record_experiment(runs, plan_record(config, stages))
    stranger = dataclasses.replace(stages[0], key="target-stranger-s1-000000")
    executor = DockerExecutor({"image": image.name, "gpus": "none"}, model=config.model)
    executor.start()
    with pytest.raises(UserError) as failed:
        executor.run_stage(stranger, runs, config.data.settings(), False, None)
    message = str(failed.value)
    assert "(exit code 2): stage target-stranger-s1-000000 is not part of the experiment" in message
    assert message.endswith(f"log: {(runs / stranger.key / 'stage.log').resolve()}")
    assert json.loads((runs / stranger.key / "failed.json").read_text())["exit_code"] == 2
    assert not _leftover_containers(engine, [stranger.key])


def test_missing_image_is_one_line(offline_world, tmp_path, engine, xstilts):
    exp = write_experiment(tmp_path / "e.yaml", offline_world,
                           BODY + "executor: docker\nexecutor_settings: {image: 'xstilts:no-such-tag'}\n")
    code, _, err = xstilts("run", exp, "--output", tmp_path / "runs")
    assert code == 2 and "Traceback" not in err
    assert "image xstilts:no-such-tag is not in the Docker engine; build it with `make image" in err
    assert not [p for p in Path(tmp_path / "runs").iterdir() if p.is_dir()]
