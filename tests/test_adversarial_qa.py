"""AdversarialQA intermediate tasks: the four configs load from the hub layout, and one trains end to end."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_HPARAMS, write_experiment

from harness import registry
from harness.data.load import load_split
from harness.data.settings import DataSettings

CONFIGS = {"adversarial_qa": "adversarialQA", "adversarial_qa_dbidaf": "dbidaf",
           "adversarial_qa_dbert": "dbert", "adversarial_qa_droberta": "droberta"}


def test_specs_are_squad_shaped_span_qa():
    squad = registry.task("squad")
    for name, config in CONFIGS.items():
        spec = registry.task(name)
        assert (spec.kind, spec.metric, spec.role) == ("span_qa", "squad", "intermediate")
        assert spec.train.repo == spec.dev.repo == "UCLNLP/adversarial_qa"
        assert spec.train.config == spec.dev.config == config and not spec.train.parquet_branch
        assert (spec.train.split, spec.dev.split) == ("train", "validation")  # test answers are withheld
        assert spec.train.fields == squad.train.fields and spec.hparams == squad.hparams
    assert registry.task("adversarial_qa_dbidaf").train.expected_rows == {"en": 10000}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_each_config_loads_through_the_hub_code_path(offline_world, name):
    root = offline_world["hub"] / "UCLNLP" / "adversarial_qa"
    assert (root / CONFIGS[name] / "train-00000-of-00001.parquet").is_file()
    settings = DataSettings(snapshot_root=str(offline_world["hub"]))
    for split, n in (("train", 60), ("dev", 20)):
        columns, prov = load_split(registry.task(name), split, "en", settings)
        n *= 3 if name == "adversarial_qa" else 1  # the combined config is the three subsets together
        assert set(columns) == {"id", "context", "question", "answers"} and len(columns["id"]) == n
        assert prov["repo"] == "UCLNLP/adversarial_qa" and prov["synthetic"]
        for context, answers in zip(columns["context"], columns["answers"], strict=True):
            (text,), (start,) = answers["text"], answers["answer_start"]
            assert context[start:start + len(text)] == text


def test_adversarial_qa_intermediate_runs_end_to_end(offline_world, tmp_path):
    from harness.cli.run import run_experiment

    body = ("name: adversarial-qa-test\nseeds: [1]\narms: [adversarial_qa]\n"
            "targets:\n  - {task: xnli, languages: [en, de]}\n" + TINY_HPARAMS)
    exp = write_experiment(tmp_path / "exp.yaml", offline_world, body)
    runs = tmp_path / "runs"
    run_experiment(exp, runs, dry_run=False, allow_mixed=False)
    (stage,) = runs.glob("intermediate-adversarial_qa-*")
    metrics = json.loads((stage / "metrics.json").read_text())
    assert metrics["train"]["steps"] == 6 and 0 <= metrics["dev_score"] <= 100  # SQuAD F1 on the dev split
    data = json.loads((stage / "stage.json").read_text())["data"]
    assert [(d["repo"], d["config"], d["source_split"], d["rows"]) for d in data] == [
        ("UCLNLP/adversarial_qa", "adversarialQA", "train", 180),
        ("UCLNLP/adversarial_qa", "adversarialQA", "validation", 60)]
    assert (stage / "done").exists() and len(list(runs.glob("evaluate-xnli-*/done"))) == 1
