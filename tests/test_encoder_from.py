"""`encoder_from` on a retrieval target: evaluate the encoder of another task's target stage (XTREME-R's
SQuAD-tuned Tatoeba) instead of the arm's intermediate encoder."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_HPARAMS, write_experiment

from harness.errors import UserError
from harness.experiment import load_experiment
from harness.plan import plan, plan_record

BASE = """name: t
model: /nonexistent/model
seeds: [1]
arms: [none, mnli]
targets:
  - {task: xquad, languages: [en, de]}
  - {task: tatoeba, languages: [de, fr]}
"""


def _write(tmp_path, text, name="exp.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _plan(tmp_path, text):
    return {s.key: s for s in plan(load_experiment(_write(tmp_path, text)))}


def _evaluations(stages, task):
    return {s.meta["arm"]: s for s in stages.values() if s.kind == "evaluate" and s.meta["task"] == task}


def test_retrieval_evaluation_reads_a_squad_target_stage(tmp_path):
    plain = _plan(tmp_path, BASE)
    tuned = _plan(tmp_path, BASE.replace("{task: tatoeba,", "{task: tatoeba, encoder_from: squad,"))
    for arm in ("none", "mnli"):
        before, after = _evaluations(plain, "tatoeba")[arm], _evaluations(tuned, "tatoeba")[arm]
        assert before.key != after.key and "encoder_from" not in before.config
        assert after.config["encoder_from"] == after.meta["encoder_from"] == "squad"
        squad = tuned[after.upstream]
        assert squad.kind == "target" and squad.meta == {"arm": arm, "seed": 1, "task": "squad"}
        assert squad.config["task"]["name"] == "squad" and squad.config["dev_languages"] == ["en"]
        if arm == "none":  # from the pretrained model
            assert squad.upstream is None and before.upstream is None
        else:  # from the arm's intermediate encoder, which the zero-shot evaluation reads directly
            assert tuned[squad.upstream].kind == "intermediate" and squad.upstream == before.upstream
    # the rest of the grid keeps its keys
    assert set(plain) - {s.key for s in _evaluations(plain, "tatoeba").values()} <= set(tuned)


def test_the_training_stage_is_shared_and_follows_the_task_recipe(tmp_path):
    text = BASE.replace("{task: tatoeba,", "{task: tatoeba, encoder_from: xquad,") + \
        "  - {task: tatoeba_xr, languages: [de, pl], encoder_from: xquad}\n" \
        "task_hparams: {xquad: {epochs: 1}}\n"
    stages = _plan(tmp_path, text)
    xquad = {s.meta["arm"]: s.key for s in stages.values() if s.kind == "target" and s.meta["task"] == "xquad"}
    assert len(xquad) == 2 and [s.kind for s in stages.values()].count("target") == 2  # one per arm
    for task in ("tatoeba", "tatoeba_xr", "xquad"):
        assert {arm: s.upstream for arm, s in _evaluations(stages, task).items()} == xquad
    assert stages[xquad["none"]].config["hparams"]["epochs"] == 1  # task_hparams apply as for any target
    # two retrieval targets naming squad share one squad stage per arm
    both = BASE.replace("{task: tatoeba,", "{task: tatoeba, encoder_from: squad,") + \
        "  - {task: tatoeba_xr, languages: [pl], encoder_from: squad}\n"
    stages = _plan(tmp_path, both)
    squad = [s for s in stages.values() if s.kind == "target" and s.meta["task"] == "squad"]
    assert len(squad) == 2
    config = load_experiment(_write(tmp_path, both))
    uses = [e for e in plan_record(config, plan(config))["stages"] if e["key"] == squad[0].key]
    assert len(uses) == 2  # listed once per retrieval target that reads it


@pytest.mark.parametrize(("change", "message"), [
    ("encoder_from: tatoeba_xr", r"targets\[1\]\.encoder_from: task 'tatoeba_xr' has no training split"),
    ("encoder_from: bucc2018", r"targets\[1\]\.encoder_from: task 'bucc2018' has no training split"),
    ("encoder_from: squadd", r"targets\[1\]\.encoder_from: unknown task 'squadd'.*squad"),
])
def test_encoder_from_must_name_a_task_that_trains(tmp_path, change, message):
    text = BASE.replace("{task: tatoeba,", "{task: tatoeba, " + change + ",")
    with pytest.raises(UserError, match=message) as info:
        load_experiment(_write(tmp_path, text))
    assert "\n" not in str(info.value)


def test_encoder_from_on_a_target_that_trains_is_refused(tmp_path):
    text = BASE.replace("{task: xquad,", "{task: xquad, encoder_from: squad,")
    with pytest.raises(UserError, match=r"targets\[0\]\.encoder_from: xquad \(span_qa\) trains its own encoder"):
        load_experiment(_write(tmp_path, text))


def test_encoder_from_naming_a_kind_without_head_is_refused(tmp_path, monkeypatch):
    from dataclasses import replace

    from harness import registry

    real = registry.task

    def task(name):  # a retrieval task given a training split: it still has no trained encoder
        spec = real(name)
        return replace(spec, train=spec.test) if spec.name == "tatoeba_xr" else spec

    monkeypatch.setattr(registry, "task", task)
    text = BASE.replace("{task: tatoeba,", "{task: tatoeba, encoder_from: tatoeba_xr,")
    with pytest.raises(UserError, match=r"task 'tatoeba_xr' \(retrieval\) trains no head"):
        load_experiment(_write(tmp_path, text))


def test_tiny_run_evaluates_the_squad_tuned_encoder(offline_world, tmp_path):
    from harness.cli.run import run_experiment

    body = "name: enc-from\nseeds: [1]\narms: [none]\ntargets:\n" \
           "  - {task: tatoeba, languages: [de], encoder_from: squad}\n" + TINY_HPARAMS
    exp = write_experiment(tmp_path / "exp.yaml", offline_world, body)
    runs = tmp_path / "runs"
    run_experiment(exp, runs, dry_run=False, allow_mixed=False)
    (target,) = [p for p in runs.iterdir() if p.name.startswith("target-squad-")]
    (evaluate,) = [p for p in runs.iterdir() if p.name.startswith("evaluate-tatoeba-")]
    assert (target / "model" / "encoder").is_dir()
    metrics = json.loads((evaluate / "metrics.json").read_text())
    assert metrics["encoder_from"] == "squad" and metrics["encoder_stage"] == target.name
    assert metrics["splits"]["test"]["score"] is not None
    record = json.loads((evaluate / "stage.json").read_text())
    assert record["upstream"] == target.name
    assert record["config"]["encoder_from"] == record["meta"]["encoder_from"] == "squad"
