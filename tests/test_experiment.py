"""Experiment validation: typed, located, one-line errors; plan shape and content keys."""

from __future__ import annotations

import pytest

from harness.errors import UserError
from harness.experiment import load_experiment
from harness.plan import plan

BASE = """name: t
model: /nonexistent/model
seeds: [1, 2]
arms: [none, mnli]
targets:
  - xnli
  - {task: pawsx, languages: [en, de]}
"""


def _write(tmp_path, text):
    p = tmp_path / "exp.yaml"
    p.write_text(text)
    return p


def test_valid_experiment_plans_one_intermediate_per_arm_and_seed(tmp_path):
    config = load_experiment(_write(tmp_path, BASE))
    stages = plan(config)
    kinds = [s.kind for s in stages]
    assert kinds.count("intermediate") == 2  # mnli x 2 seeds; `none` has none
    assert kinds.count("target") == 8 and kinds.count("evaluate") == 8
    keys = {s.key for s in stages}
    assert len(keys) == len(stages)
    by_key = {s.key: s for s in stages}
    for s in stages:  # upstream before downstream
        if s.upstream:
            assert list(by_key).index(s.upstream) < list(by_key).index(s.key)
    mnli_targets = [s for s in stages if s.kind == "target" and s.meta["arm"] == "mnli"]
    assert {by_key[s.upstream].kind for s in mnli_targets} == {"intermediate"}


def test_keys_are_content_hashes(tmp_path):
    a = plan(load_experiment(_write(tmp_path, BASE)))
    b = plan(load_experiment(_write(tmp_path, BASE.replace("name: t", "name: other"))))
    assert [s.key for s in a] == [s.key for s in b]  # the experiment's name does not change the work
    c = plan(load_experiment(_write(tmp_path, BASE + "hparams: {lr: 2.0e-5}\n")))
    assert not {s.key for s in a} & {s.key for s in c}


def test_env_expansion(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_MODEL_DIR", "/models")
    config = load_experiment(_write(tmp_path, BASE.replace("/nonexistent/model", "${MY_MODEL_DIR}/xlmr")))
    assert config.model == "/models/xlmr"
    config = load_experiment(_write(tmp_path, BASE.replace("/nonexistent/model", "${UNSET_VAR_X:-/d}/m")))
    assert config.model == "/d/m"


ERRORS = [
    (("arms: [none, mnli]", "arms: [none, mnlii]"),
     r"arms\[1\]\.tasks\[0\]: unknown task 'mnlii' \(did you mean 'mnli'\?\)"),
    (("- xnli", "- xnly"), r"targets\[0\]\.task: unknown task 'xnly'"),
    (("languages: [en, de]", "languages: [en, xx]"), r"targets\[1\]\.languages: 'xx' is not a language of pawsx"),
    (("seeds: [1, 2]", "seeds: one"), r"seeds: "),
    (("seeds: [1, 2]", "seeds: [1, 2]\nlearning_rate: 3"), r"learning_rate: Extra inputs"),
    (("seeds: [1, 2]", "seeds: [1, 2]\nhparams: {lrr: 1}"),
     r"hparams: unknown hyper-parameter 'lrr' \(did you mean 'lr'\?\)"),
    (("arms: [none, mnli]", "arms: [none, none]"), r"duplicate arm name 'none'"),
    (("targets:", "targets: [xnli\nfoo:"), r"malformed YAML"),
]


@pytest.mark.parametrize("change, message", ERRORS)
def test_bad_input_is_one_located_line(tmp_path, change, message):
    path = _write(tmp_path, BASE.replace(*change))
    with pytest.raises(UserError, match=message) as info:
        load_experiment(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="experiment file not found"):
        load_experiment(tmp_path / "nope.yaml")


def test_identical_work_under_two_arms_is_one_stage_listed_for_both(tmp_path):
    from harness.plan import plan_record

    text = BASE.replace("arms: [none, mnli]", "arms: [none, mnli, {name: again, tasks: [mnli]}]")
    config = load_experiment(_write(tmp_path, text))
    stages = plan(config)
    assert len(stages) == len(plan(load_experiment(_write(tmp_path, BASE))))  # nothing runs twice
    record = plan_record(config, stages)
    arms_of = {}
    for entry in record["stages"]:
        arms_of.setdefault(entry["key"], set()).add(entry["meta"]["arm"])
    assert any(arms == {"mnli", "again"} for arms in arms_of.values())
    assert all("again" not in key for key in arms_of)  # keys name content, never arms


def test_hparam_values_are_type_checked_where_they_are_written(tmp_path):
    from harness.hparams import resolve

    assert resolve({"lr": "1e-3"}).lr == 0.001  # YAML 1.1 reads 1e-3 as a string: still the number
    path = tmp_path / "exp.yaml"
    for layer, message in (("hparams: {lr: abc}", "hparams.lr: Input should be a valid number"),
                           ("hparams: {batch_size: 8.5}", "hparams.batch_size: Input should be a valid integer"),
                           ("task_hparams: {xnli: {epochs: x}}", "task_hparams.xnli.epochs: Input should be")):
        path.write_text(BASE + layer + "\n")
        with pytest.raises(UserError, match=message.replace(".", r"\.")):
            load_experiment(path)
    path.write_text(BASE + "hparams: {grad_accum: 3}\n")  # checked once the layers are merged, in planning
    with pytest.raises(UserError, match="grad_accum must divide batch_size"):
        plan(load_experiment(path))


@pytest.mark.parametrize("name", ["eval_every", "save_every", "eval_batch_size", "eval_examples", "patience"])
def test_counts_that_divide_or_size_the_loop_must_be_positive(tmp_path, name):
    """0 used to pass validation and end in a ZeroDivisionError traceback mid-training."""
    path = tmp_path / "exp.yaml"
    path.write_text(BASE + f"hparams: {{{name}: 0}}\n")
    with pytest.raises(UserError, match=rf"hparams\.{name}: Input should be greater than or equal to 1"):
        load_experiment(path)
