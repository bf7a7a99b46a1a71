"""`--set PATH=VALUE` overrides of an experiment file: paths, lists by index and name, errors, recording."""

from __future__ import annotations

import json

import pytest
from test_experiment import BASE

from harness.errors import UserError
from harness.experiment import apply_overrides, load_experiment
from harness.plan import plan


def _write(tmp_path, text=BASE, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _raw():
    import yaml

    return yaml.safe_load(BASE)


def test_dotted_path_creates_missing_keys_and_parses_yaml_values():
    raw = _raw()
    out = apply_overrides(raw, ["hparams.max_steps=4", "hparams.lr=1.0e-5", "seeds=[1]", "model=/models/x",
                                "data.revisions.google/xtreme=abc", "description=a b"])
    assert out["hparams"] == {"max_steps": 4, "lr": 1.0e-5}
    assert out["seeds"] == [1] and out["model"] == "/models/x" and out["description"] == "a b"
    assert out["data"] == {"revisions": {"google/xtreme": "abc"}}
    assert raw == _raw()  # the input tree is left as it is


def test_list_items_by_index_and_by_name():
    out = apply_overrides(_raw(), ["targets.1.languages=[de]", "seeds.0=7"])
    assert out["targets"][1] == {"task": "pawsx", "languages": ["de"]} and out["seeds"] == [7, 2]
    out = apply_overrides(_raw(), ["targets.pawsx.hparams.epochs=1"])
    assert out["targets"][1] == {"task": "pawsx", "languages": ["en", "de"], "hparams": {"epochs": 1}}


def test_shorthand_items_expand_like_the_validators():
    out = apply_overrides(_raw(), ["arms.mnli.hparams.epochs=1", "targets.xnli.languages=[en, de]"])
    assert out["arms"] == ["none", {"name": "mnli", "tasks": ["mnli"], "hparams": {"epochs": 1}}]
    assert out["targets"][0] == {"task": "xnli", "languages": ["en", "de"]}
    out = apply_overrides(_raw(), ["arms.0.hparams.epochs=1"])  # by index too; `none` has no tasks
    assert out["arms"][0] == {"name": "none", "tasks": [], "hparams": {"epochs": 1}}
    out = apply_overrides(_raw(), ["arms.mnli=squad"])  # the last segment replaces the item itself
    assert out["arms"] == ["none", "squad"]


def test_overridden_config_equals_the_edited_file(tmp_path):
    sets = ["arms.mnli.hparams.epochs=1", "targets.pawsx.languages=[de]", "hparams.lr=2.0e-5"]
    overridden = load_experiment(_write(tmp_path), sets)
    edited = BASE.replace("arms: [none, mnli]", "arms: [none, {name: mnli, tasks: [mnli], hparams: {epochs: 1}}]")
    edited = edited.replace("languages: [en, de]", "languages: [de]") + "hparams: {lr: 2.0e-5}\n"
    assert overridden == load_experiment(_write(tmp_path, edited, "edited.yaml"))


def test_overrides_apply_before_env_expansion_and_validation(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELS", "/m")
    assert load_experiment(_write(tmp_path), ["model=${MODELS}/x"]).model == "/m/x"
    with pytest.raises(UserError, match=r"exp\.yaml: seeds: ") as info:
        load_experiment(_write(tmp_path), ["seeds=one"])
    assert "\n" not in str(info.value)
    with pytest.raises(UserError, match=r"targets\[1\]\.languages: 'xx' is not a language of pawsx"):
        load_experiment(_write(tmp_path), ["targets.pawsx.languages=[xx]"])


def test_an_override_changes_the_stage_keys_as_a_yaml_edit_would(tmp_path):
    base = {s.key for s in plan(load_experiment(_write(tmp_path)))}
    changed = plan(load_experiment(_write(tmp_path), ["hparams.lr=2.0e-5"]))
    edited = plan(load_experiment(_write(tmp_path, BASE + "hparams: {lr: 2.0e-5}\n", "edited.yaml")))
    assert not base & {s.key for s in changed}
    assert [s.key for s in changed] == [s.key for s in edited]
    intermediate = {s.key for s in plan(load_experiment(_write(tmp_path), ["arms.mnli.hparams.epochs=1"]))}
    assert (base - intermediate) and (base & intermediate)  # the mnli arm's stages only


BAD = [
    ("hparams.max_steps", "expected PATH=VALUE"),
    ("hparams..lr=1", "expected PATH=VALUE"),
    ("=4", "expected PATH=VALUE"),
    ("arms.mnlx.hparams.epochs=1", r"arms has no item named 'mnlx' \(did you mean 'mnli'\?\)"),
    ("targets.5.languages=[en]", "targets has 2 item"),
    ("model.name=x", "model is the value '/nonexistent/model', not a mapping or a list"),
    ("seeds.0.x=1", "seeds.0 is the value 1"),
    ("seeds=[1", "VALUE is not valid YAML"),
]


@pytest.mark.parametrize("arg, message", BAD)
def test_bad_override_is_one_line_naming_the_argument(tmp_path, arg, message):
    with pytest.raises(UserError, match=message) as info:
        load_experiment(_write(tmp_path), [arg])
    assert str(info.value).startswith(f"--set {arg}: ") and "\n" not in str(info.value)


@pytest.mark.parametrize("arg, message", [BAD[0], BAD[3], BAD[5], BAD[7]])
def test_bad_override_exits_2_through_the_cli(tmp_path, xstilts, arg, message):
    for command in ("validate", "run"):
        code, out, err = xstilts(command, _write(tmp_path), "--set", arg)
        assert code == 2 and "Traceback" not in err, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: --set {arg}: ")


def test_validate_accepts_repeated_sets(tmp_path, xstilts):
    code, out, err = xstilts("validate", _write(tmp_path), "--set", "seeds=[1]", "--set", "arms=[none]")
    assert code == 0, err
    assert "1 arms x 2 targets x 1 seeds" in out


def test_overrides_are_recorded_in_experiment_json(tmp_path, monkeypatch):
    import harness.cli.run as run_module
    import harness.model

    class NoExecutor:
        def __init__(self, settings, model):
            pass

        def run(self, stages, runs_dir, *args):
            return {"ran": 0, "skipped": len(stages)}

    monkeypatch.setattr(harness.model, "check_model_reference", lambda model: None)
    real_get = run_module.registry.get
    monkeypatch.setattr(run_module.registry, "get",
                        lambda group, name: NoExecutor if group == "executor" else real_get(group, name))
    sets = ["hparams.max_steps=4", "arms.mnli.hparams.epochs=1"]
    run_module.run_experiment(_write(tmp_path), tmp_path / "runs", False, False, sets)
    record = json.loads((tmp_path / "runs" / "experiment.json").read_text())
    assert record["overrides"] == sets
    assert record["experiment"]["hparams"] == {"max_steps": 4}
    assert record["experiment"]["arms"][1]["hparams"] == {"epochs": 1}
    run_module.run_experiment(_write(tmp_path), tmp_path / "runs", False, False)
    assert json.loads((tmp_path / "runs" / "experiment.json").read_text())["overrides"] == []
