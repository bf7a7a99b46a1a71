"""The three-phase pipeline end to end on the offline world: train, carry the encoder, evaluate, report."""

from __future__ import annotations

import json

import pytest
from conftest import write_experiment

from harness.store import is_done

BODY = """name: pipeline-test
seeds: [1]
arms: [none, mnli]
targets:
  - {task: xnli, languages: [en, de, zh]}
hparams:
  lr: 1.0e-3
  batch_size: 32
  max_seq_length: 64
  eval_examples: 60
task_hparams:
  mnli: {epochs: 2}
  xnli: {epochs: 3}
"""


@pytest.fixture(scope="module")
def finished_run(offline_world, tmp_path_factory):
    from harness.cli.run import run_experiment

    tmp = tmp_path_factory.mktemp("pipeline")
    exp = write_experiment(tmp / "exp.yaml", offline_world, BODY)
    runs = tmp / "runs"
    counts = run_experiment(exp, runs, dry_run=False, allow_mixed=False)
    return exp, runs, counts


def _stages(runs, kind):
    return sorted(p for p in runs.iterdir() if p.name.startswith(kind + "-"))


def test_every_stage_is_done_with_its_files(finished_run):
    _, runs, counts = finished_run
    assert counts == {"ran": 5, "skipped": 0}
    (inter,) = _stages(runs, "intermediate")
    assert (inter / "encoder" / "model.safetensors").exists()
    assert not list(inter.glob("*heads*"))  # only the encoder is carried forward
    for stage in _stages(runs, "target"):
        assert (stage / "model" / "encoder" / "model.safetensors").exists()
        assert (stage / "model" / "heads.safetensors").exists()
    for stage in _stages(runs, "evaluate"):
        assert is_done(stage)
        assert sorted(p.name for p in (stage / "predictions").iterdir()) == [
            f"{split}-{lang}.tsv" for split in ("dev", "test") for lang in ("de", "en", "zh")]


def test_english_dev_accuracy_is_clearly_above_chance(finished_run):
    _, runs, _ = finished_run
    for stage in _stages(runs, "evaluate"):
        metrics = json.loads((stage / "metrics.json").read_text())
        en_dev = metrics["splits"]["dev"]["languages"]["en"]["accuracy"]
        assert en_dev > 60.0, f"{stage.name}: English dev accuracy {en_dev} (chance is 33.3)"


def test_target_of_mnli_arm_starts_from_the_intermediate_encoder(finished_run):
    _, runs, _ = finished_run
    (inter,) = _stages(runs, "intermediate")
    targets = [json.loads((s / "stage.json").read_text()) for s in _stages(runs, "target")]
    assert sorted(t["upstream"] for t in targets if t["upstream"]) == [inter.name]
    assert sorted(t["meta"]["arm"] for t in targets) == ["mnli", "none"]


def test_stage_json_records_config_environment_and_data(finished_run):
    _, runs, _ = finished_run
    record = json.loads((_stages(runs, "target")[0] / "stage.json").read_text())
    env = record["environment"]
    assert env["xstilts"] and env["python"]
    assert set(env["packages"]) >= {"torch", "transformers", "datasets", "accelerate", "faiss-cpu"}
    assert env["device"]["type"] in {"cpu", "cuda"}
    assert record["config"]["hparams"]["lr"] == 1.0e-3 and record["seed"] == 1
    assert record["seconds"] > 0
    assert any(d["source"] == "hf" and d["revision"].startswith("local-") for d in record["data"])


def test_second_run_trains_nothing(finished_run, xstilts):
    exp, runs, _ = finished_run
    before = {p: p.stat().st_mtime_ns for p in runs.rglob("*") if p.is_file()}
    code, out, err = xstilts("run", exp, "--output", runs)
    assert code == 0, err
    assert "nothing to do: all 5 stages" in out
    after = {p: p.stat().st_mtime_ns for p in runs.rglob("*") if p.is_file() and p.name != "experiment.json"}
    assert all(before[p] == t for p, t in after.items())


def test_leaderboard_is_strict(finished_run, tmp_path, xstilts):
    _, runs, _ = finished_run
    code, _, err = xstilts("leaderboard", runs, "--out", tmp_path)
    assert code == 0, err
    board = json.loads((tmp_path / "leaderboard.json").read_text())
    assert board["schema_version"] >= 1
    rows = {r["arm"]: r for r in board["arms"]}
    assert rows["none"]["tasks"]["xnli"]["score"] is not None
    delta = rows["mnli"]["deltas"]["none"]["tasks"]["xnli"]["delta"]
    assert delta == pytest.approx(rows["mnli"]["tasks"]["xnli"]["score"] - rows["none"]["tasks"]["xnli"]["score"])
    md = (tmp_path / "leaderboard.md").read_text()
    assert "| mnli |" in md and "xnli" in md

    # Remove one evaluation: its cell, and every average over it, becomes null / n/a.
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(runs, broken)
    record = json.loads((broken / "experiment.json").read_text())
    victim = next(s["key"] for s in record["stages"] if s["kind"] == "evaluate" and s["meta"]["arm"] == "mnli")
    (broken / victim / "done").unlink()
    code, _, err = xstilts("leaderboard", broken, "--out", tmp_path / "b")
    assert code == 0, err
    board = json.loads((tmp_path / "b" / "leaderboard.json").read_text())
    mnli = next(r for r in board["arms"] if r["arm"] == "mnli")
    assert mnli["tasks"]["xnli"]["score"] is None and mnli["average"]["score"] is None
    assert mnli["deltas"]["none"]["tasks"]["xnli"]["delta"] is None
    assert "n/a" in (tmp_path / "b" / "leaderboard.md").read_text()


def test_bad_inputs_exit_2_with_one_line(offline_world, tmp_path, xstilts):
    bad_model = write_experiment(tmp_path / "m.yaml", offline_world, BODY)
    bad_model.write_text(bad_model.read_text().replace(str(offline_world["model"]), str(tmp_path / "no-model")))
    code, out, err = xstilts("run", bad_model, "--output", tmp_path / "runs")
    assert code == 2 and "Traceback" not in err and err.startswith("error: ") and err.count("\n") == 1
    assert "no-model" in err
    assert not any((tmp_path / "runs").glob("*/done"))

    missing = write_experiment(tmp_path / "d.yaml", offline_world, BODY)
    missing.write_text(missing.read_text().replace(str(offline_world["hub"]), str(tmp_path / "no-hub")))
    code, _, err = xstilts("run", missing, "--output", tmp_path / "runs2")
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2 and "Traceback" not in err and len(errors) == 1  # progress lines may precede it
    assert "nyu-mll/glue" in err or "google/xtreme" in err

    code, _, err = xstilts("validate", tmp_path / "absent.yaml")
    assert code == 2 and err.startswith("error: experiment file not found")

    code, _, err = xstilts("leaderboard", tmp_path / "nowhere")
    assert code == 2 and "experiment.json" in err


def test_other_experiment_in_same_runs_dir_is_refused(finished_run, offline_world, tmp_path, xstilts):
    _, runs, _ = finished_run
    other = write_experiment(tmp_path / "o.yaml", offline_world, BODY.replace("pipeline-test", "other"))
    code, _, err = xstilts("run", other, "--output", runs, "--dry-run")
    assert code == 0
    code, _, err = xstilts("run", other, "--output", runs)
    assert code == 2 and "holds experiment 'pipeline-test'" in err


def test_integer_and_string_labels_mean_the_same_class():
    from harness import registry
    from harness.kinds.classification import ClassificationKind, label_name

    spec = registry.task("pawsx")
    assert [label_name(v, spec.labels) for v in (0, 1, "0", "1", None)] == ["0", "1", "0", "1", None]
    assert ClassificationKind().gold({"label": [1, 0, "1"]}, spec) == ["1", "0", "1"]
