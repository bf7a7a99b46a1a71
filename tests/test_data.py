"""Loading from local snapshots of hub repositories goes through datasets.load_dataset like the hub."""

from __future__ import annotations

import pytest

from harness import registry
from harness.data.load import load_split
from harness.data.settings import DataSettings
from harness.data.snapshot import fingerprint, read_configs, write_snapshot
from harness.errors import UserError
from harness.spec import HFSource, TaskSpec
from tasks.fixtures.xtreme_classification import XNLI_ROWS


def _settings(world):
    return DataSettings(snapshot_root=str(world["hub"]))


def test_snapshot_readme_lists_configs_like_the_hub(offline_world):
    configs = {c["config_name"] for c in read_configs(offline_world["hub"] / "google" / "xtreme")}
    assert {"XNLI", "PAWS-X.en", "PAWS-X.de"} <= configs
    assert fingerprint(offline_world["hub"] / "google" / "xtreme").startswith("local-")


def test_classlabel_ints_become_names_and_language_filter_applies(offline_world):
    cols, prov = load_split(registry.task("mnli"), "train", "en", _settings(offline_world))
    assert set(cols["label"]) == {"entailment", "neutral", "contradiction"}
    assert prov["repo"] == "nyu-mll/glue" and prov["config"] == "mnli" and prov["snapshot"]
    de, _ = load_split(registry.task("xnli"), "test", "de", _settings(offline_world))
    en, _ = load_split(registry.task("xnli"), "test", "en", _settings(offline_world))
    english, other = XNLI_ROWS["test"]  # one XNLI config holds every language; the filter keeps one
    assert (len(en["text_a"]), len(de["text_a"])) == (english, other) and english != other
    assert not set(de["text_a"]) & set(en["text_a"])


def test_unlabelled_test_split_maps_to_none(offline_world):
    spec = registry.task("mnli")
    test_spec = TaskSpec(**{**spec.__dict__, "test": HFSource(
        repo="nyu-mll/glue", config="mnli", split="test_matched",
        fields={"text_a": "premise", "text_b": "hypothesis", "label": "label"})})
    cols, _ = load_split(test_spec, "test", "en", _settings(offline_world))
    assert set(cols["label"]) == {None}


def test_snapshot_per_repo_setting_and_env_variable(offline_world, monkeypatch):
    settings = DataSettings(snapshots={"google/xtreme": str(offline_world["hub"] / "google" / "xtreme")})
    cols, _ = load_split(registry.task("pawsx"), "dev", "de", settings)
    assert set(cols["label"]) <= {"0", "1"}
    monkeypatch.setenv("XSTILTS_HUB_SNAPSHOTS", str(offline_world["hub"]))
    cols2, _ = load_split(registry.task("pawsx"), "dev", "de", DataSettings())
    assert cols2 == cols


def test_wrong_schema_and_missing_config_are_user_errors(tmp_path):
    root = tmp_path / "hub"
    columns = {"s1": ["a"], "s2": ["b"], "label": ["1"]}
    write_snapshot(root / "google" / "xtreme", {"PAWS-X.de": {"validation": columns}})
    settings = DataSettings(snapshot_root=str(root))
    with pytest.raises(UserError, match=r"lacks column\(s\) \['sentence1', 'sentence2'\]"):
        load_split(registry.task("pawsx"), "dev", "de", settings)
    with pytest.raises(UserError, match="cannot load dataset .*PAWS-X.fr"):
        load_split(registry.task("pawsx"), "dev", "fr", settings)


def test_hub_without_network_is_a_user_error(monkeypatch):
    spec = TaskSpec(name="t", kind="classification", description="", metric="accuracy",
                    score_metrics=("accuracy",), labels=("a",),
                    train=HFSource(repo="nobody/nothing-here", split="train", revision="0" * 40,
                                   fields={"text_a": "x", "label": "y"}))
    with pytest.raises(UserError, match="nobody/nothing-here"):
        load_split(spec, "train", "en", DataSettings())
