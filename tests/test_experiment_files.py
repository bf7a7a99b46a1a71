"""The shipped experiment files beyond paper.yaml (tests/test_baselines_pipeline.py) validate and plan offline."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness import registry
from harness.experiment import load_experiment

ROOT = Path(__file__).resolve().parent.parent
XTREME_R = ROOT / "experiments" / "xtreme_r.yaml"
PAPER = ROOT / "experiments" / "paper.yaml"
ADVERSARIAL = ROOT / "experiments" / "adversarial.yaml"


def test_xtreme_r_experiment_validates_and_dry_runs(xstilts):
    code, out, err = xstilts("validate", XTREME_R)
    assert code == 0, err
    assert "xtreme_r.yaml: ok" in out and "15 arms x 10 targets x 3 seeds" in out
    code, out, err = xstilts("run", XTREME_R, "--dry-run", env={"COLUMNS": "200"})
    assert code == 0, err
    assert "GPU-hours" in out and "intermediate" in out
    for stage in ("target-xcopa-s1", "evaluate-mewslix-s1", "evaluate-lareqa-s3", "evaluate-tatoeba_xr-s2"):
        assert stage in out


def test_xtreme_r_targets_cover_the_suite_in_every_language():
    exp = load_experiment(XTREME_R)
    suite = registry.get("suite", "xtreme-r")
    targets = {t.task: t for t in exp.targets}
    assert set(targets) == set(suite.all_tasks) == {*suite.tasks, *suite.extra_tasks}
    assert all(t.languages is None for t in targets.values())  # every language of each task spec
    assert {"mewslix", "ccg"} <= set(exp.data.data_dirs)  # Mewsli-X reads a local layout, as CCGbank does


def test_xtreme_r_experiment_keeps_the_paper_arms_and_recipe():
    paper, xr = (yaml.safe_load(p.read_text(encoding="utf-8")) for p in (PAPER, XTREME_R))
    assert [a if isinstance(a, str) else a["name"] for a in xr["arms"]] == \
        [a if isinstance(a, str) else a["name"] for a in paper["arms"]]
    assert xr["hparams"] == paper["hparams"] and xr["model"] == paper["model"] and xr["seeds"] == paper["seeds"]
    target_tt = next(a for a in xr["arms"] if not isinstance(a, str) and a["name"] == "translate-train-target")
    assert set(target_tt["settings"]["tasks"]) <= set(registry.get("suite", "xtreme-r").all_tasks)


def test_adversarial_experiment_keeps_the_xtreme_r_targets_and_paper_recipe():
    paper, xr, adv = (yaml.safe_load(p.read_text(encoding="utf-8")) for p in (PAPER, XTREME_R, ADVERSARIAL))
    assert adv["arms"] == ["none", "mnli", "anli_r1", "anli_r2", "anli_r3", "anli", "squad", "adversarial_qa",
                           "adversarial_qa_dbidaf", "adversarial_qa_dbert", "adversarial_qa_droberta"]
    assert adv["targets"] == xr["targets"] and adv["data"]["data_dirs"] == xr["data"]["data_dirs"]
    assert adv["hparams"] == paper["hparams"] and adv["model"] == paper["model"] and adv["seeds"] == paper["seeds"]
    assert all(registry.task(a).role == "intermediate" for a in adv["arms"] if a != "none")


QUESTIONS = {  # file -> (arms, targets, stages in the dry run)
    "code_mixed.yaml": (5, 15, ("evaluate-lince_ner_hineng-s1", "target-lince_sa_spaeng-s3", "intermediate-ccg-s2")),
    "multilingual_intermediate.yaml": (10, 10, ("intermediate-xnli_mt-s1", "intermediate-squad_mt_xtreme-s3",
                                                "intermediate-squad_mt-s2")),
    "code_intermediate.yaml": (8, 10, ("intermediate-code_search-s1", "intermediate-code_search+mnli-s2")),
    "augmentation.yaml": (8, 5, ("target-panx_xr-s1", "evaluate-tydiqa-s3")),
    "adversarial.yaml": (11, 10, ("intermediate-adversarial_qa-s1", "intermediate-adversarial_qa_droberta-s1",
                                  "intermediate-anli_r3-s2", "target-xcopa-s1", "evaluate-tatoeba_xr-s3")),
}


@pytest.mark.parametrize("name", sorted(QUESTIONS))
def test_question_experiments_validate_and_dry_run(xstilts, name):
    arms, targets, stages = QUESTIONS[name]
    path = ROOT / "experiments" / name
    code, out, err = xstilts("validate", path)
    assert code == 0, err
    assert f"{name}: ok" in out and f"{arms} arms x {targets} targets x 3 seeds" in out
    code, out, err = xstilts("run", path, "--dry-run", env={"COLUMNS": "200"})
    assert code == 0, err
    assert "GPU-hours" in out and all(stage in out for stage in stages)


@pytest.mark.parametrize("name", sorted(QUESTIONS))
def test_question_experiments_open_with_the_question_and_literature(name):
    text = (ROOT / "experiments" / name).read_text(encoding="utf-8")
    header = text[: text.index("\nname:")]
    assert header.startswith("# Question ") and "(issue 17)" in header.splitlines()[0]
    for part in ("Arms", "Comparison to read", "What the literature expects", "et al."):
        assert part in header, (name, part)
    exp = load_experiment(ROOT / "experiments" / name)
    assert exp.model == "FacebookAI/xlm-roberta-large" and exp.seeds == [1, 2, 3]


def test_benchmark_names_that_do_not_exist_are_read_in_the_comments():
    assert "XCORE" in (ROOT / "experiments" / "code_mixed.yaml").read_text(encoding="utf-8")
    assert "XTREME-ML" in (ROOT / "experiments" / "multilingual_intermediate.yaml").read_text(encoding="utf-8")


def test_augmentation_arms_cross_intermediate_training_with_both_augmentations():
    exp = load_experiment(ROOT / "experiments" / "augmentation.yaml")
    design = {a.name: (bool(a.tasks), a.baseline == "translate_train", a.augment is not None) for a in exp.arms}
    assert sorted(design.values()) == sorted((i, t, c) for i in (False, True) for t in (False, True)
                                             for c in (False, True))
    assert {a.augment.name for a in exp.arms if a.augment} == {"code_switch"}
