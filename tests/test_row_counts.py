"""Row counts: a split whose rows differ from the public release's count is an error unless overridden."""

from __future__ import annotations

import pytest

from harness.data.load import load_split
from harness.data.settings import DataSettings
from harness.data.snapshot import SYNTHETIC_KEY, is_synthetic, write_snapshot
from harness.errors import UserError
from harness.spec import HFSource, TaskSpec

REPO = "org/pairs"


def _source(split: str, expected: int | None, config: str = "c") -> HFSource:
    return HFSource(repo=REPO, config=config, split=split, fields={"text_a": "s", "label": "y"},
                    expected_rows={"en": expected} if expected is not None else {})


def _task(expected: int | None = 5, dev=None) -> TaskSpec:
    return TaskSpec(name="pairs", kind="classification", description="", metric="accuracy",
                    score_metrics=("accuracy",), labels=("a", "b"),
                    dev=dev or _source("validation", expected))


def _snapshot(tmp_path, rows: int = 4, synthetic: bool = False, configs: tuple[str, ...] = ("c",)):
    """A snapshot of REPO with `rows` rows in every config's validation split; real (no marker) by default."""
    root = tmp_path / "hub" / REPO
    cols = {"s": [f"s{i}" for i in range(rows)], "y": ["a", "b"] * (rows // 2) + ["a"] * (rows % 2)}
    write_snapshot(root, {c: {"validation": cols} for c in configs})
    if not synthetic:
        readme = root / "README.md"
        readme.write_text(readme.read_text().replace(f"{SYNTHETIC_KEY}: true\n", ""))
    assert is_synthetic(root) is synthetic
    return root


def _settings(tmp_path, **expected_rows) -> DataSettings:
    return DataSettings(snapshot_root=str(tmp_path / "hub"), expected_rows=expected_rows)


def test_mismatch_is_one_line_naming_repo_config_split_counts_and_the_override(tmp_path):
    root = _snapshot(tmp_path)
    with pytest.raises(UserError) as info:
        load_split(_task(), "dev", "en", _settings(tmp_path))
    msg = str(info.value)
    assert "\n" not in msg
    for part in (REPO, "config c", "split validation", f"snapshot {root}", "has 4 rows", "expected 5",
                 "public release", "task 'pairs' dev", "--set data.expected_rows.pairs.dev.en=4",
                 "data: {expected_rows: {pairs: {dev: {en: 4}}}}", "null switches the check off"):
        assert part in msg, (part, msg)


def test_matching_count_passes_and_is_recorded(tmp_path):
    _snapshot(tmp_path, rows=5)
    cols, prov = load_split(_task(), "dev", "en", _settings(tmp_path))
    assert len(cols["text_a"]) == 5
    assert prov["expected_rows"] == 5 and prov["rows_override"] is False and prov["rows_check"] == "ok"


def test_override_replaces_the_count_and_is_recorded(tmp_path):
    _snapshot(tmp_path)
    _, prov = load_split(_task(), "dev", "en", _settings(tmp_path, pairs={"dev": {"en": 4}}))
    assert prov["rows"] == 4 and prov["expected_rows"] == 4 and prov["rows_override"] is True
    with pytest.raises(UserError, match=r"expected 3 \(data.expected_rows of the experiment\)"):
        load_split(_task(), "dev", "en", _settings(tmp_path, pairs={"dev": {"en": 3}}))


def test_override_of_another_split_does_not_apply(tmp_path):
    _snapshot(tmp_path)
    with pytest.raises(UserError, match="expected 5"):
        load_split(_task(), "dev", "en", _settings(tmp_path, pairs={"test": {"en": 4}}))


def test_null_override_switches_the_check_off(tmp_path):
    _snapshot(tmp_path)
    _, prov = load_split(_task(), "dev", "en", _settings(tmp_path, pairs={"dev": {"en": None}}))
    assert prov["rows_check"].startswith("skipped") and prov["rows_override"] is True
    assert prov["expected_rows"] is None


def test_synthetic_snapshot_is_not_held_to_the_public_count(tmp_path):
    _snapshot(tmp_path, synthetic=True)
    _, prov = load_split(_task(), "dev", "en", _settings(tmp_path))
    assert prov["rows_check"] == "skipped: synthetic snapshot" and "expected_rows" not in prov
    _, prov = load_split(_task(), "dev", "en", _settings(tmp_path, pairs={"dev": {"en": 4}}))
    assert prov["rows_check"] == "ok"  # an explicit override is still checked


def test_without_an_expected_count_nothing_is_checked(tmp_path):
    _snapshot(tmp_path)
    _, prov = load_split(_task(expected=None), "dev", "en", _settings(tmp_path))
    assert "rows_check" not in prov


def test_concatenated_split_parts_are_overridden_by_index(tmp_path):
    _snapshot(tmp_path, configs=("c", "d"))
    task = _task(dev=(_source("validation", 4, "c"), _source("validation", 5, "d")))
    with pytest.raises(UserError, match=r"source 1 of the split.*--set data\.expected_rows\.pairs\.dev\.en\.1=4"):
        load_split(task, "dev", "en", _settings(tmp_path))
    _, prov = load_split(task, "dev", "en", _settings(tmp_path, pairs={"dev": {"en": {1: 4}}}))
    assert [(p["rows_override"], p["rows_check"]) for p in prov["parts"]] == [(False, "ok"), (True, "ok")]
    _, prov = load_split(task, "dev", "en", _settings(tmp_path, pairs={"dev": {"en": None}}))
    assert all(p["rows_check"].startswith("skipped") for p in prov["parts"])
    with pytest.raises(UserError, match=r"concatenated from several sources; give \{part index: rows\}"):
        load_split(task, "dev", "en", _settings(tmp_path, pairs={"dev": {"en": 4}}))
    with pytest.raises(UserError, match="has one source"):
        load_split(_task(), "dev", "en", _settings(tmp_path, pairs={"dev": {"en": {0: 4}}}))


def test_snapshot_rewritten_in_place_is_read_again(tmp_path):
    """datasets keys a local directory's cache by its name only: each snapshot state needs its own cache."""
    _snapshot(tmp_path, rows=4)
    with pytest.raises(UserError, match="has 4 rows"):
        load_split(_task(), "dev", "en", _settings(tmp_path))
    _snapshot(tmp_path, rows=5)  # a newer download into the same directory
    cols, _ = load_split(_task(), "dev", "en", _settings(tmp_path))
    assert len(cols["text_a"]) == 5


def test_hub_data_is_checked_whatever_the_revision(monkeypatch):
    from datasets import Dataset

    import harness.data.load as load

    monkeypatch.setattr(load, "_read", lambda *args: Dataset.from_dict({"s": ["x"] * 4, "y": ["a"] * 4}))
    with pytest.raises(UserError, match=r"org/pairs \(config c, split validation, revision main\) has 4 rows"):
        load_split(_task(), "dev", "en", DataSettings())
    _, prov = load_split(_task(), "dev", "en", DataSettings(expected_rows={"pairs": {"dev": {"en": 4}}}))
    assert prov["rows_check"] == "ok" and prov["revision"] == "main"


def test_experiment_data_expected_rows_reach_the_settings(tmp_path):
    from harness.experiment import load_experiment

    path = tmp_path / "exp.yaml"
    path.write_text("name: t\nmodel: /m\narms: [none]\ntargets: [pawsx]\n"
                    "data: {expected_rows: {anli: {train: {en: {3: 549000}}}}}\n")
    config = load_experiment(path, ["data.expected_rows.pawsx.dev.de=1999", "data.expected_rows.anli.train.en.1=~"])
    rows = config.data.settings().expected_rows
    assert rows == {"anli": {"train": {"en": {3: 549000, 1: None}}}, "pawsx": {"dev": {"de": 1999}}}
    assert config.data.settings().rows_override("anli", "train", "en", 1) == (True, None)
    config = load_experiment(path, ["data.expected_rows.anli.train.en.3=549001"])  # YAML's integer key 3
    assert config.data.settings().expected_rows["anli"] == {"train": {"en": {3: 549001}}}
    with pytest.raises(UserError, match=r"--set data.expected_rows.anli.train.en.3.x=1: .*en\.3 is the value"):
        load_experiment(path, ["data.expected_rows.anli.train.en.3.x=1"])
    with pytest.raises(UserError, match=r"data.expected_rows: unknown task 'pawsxx'"):
        load_experiment(path, ["data.expected_rows.pawsxx.dev.de=1"])
    with pytest.raises(UserError, match=r"data.expected_rows.pawsx.val"):
        load_experiment(path, ["data.expected_rows.pawsx.val.de=1"])
    with pytest.raises(UserError, match=r"data.expected_rows.pawsx.dev.de"):
        load_experiment(path, ["data.expected_rows.pawsx.dev.de=-1"])


def test_fixture_world_is_synthetic(offline_world):
    assert is_synthetic(offline_world["hub"] / "google" / "xtreme")
    assert is_synthetic(offline_world["hub"] / "nyu-mll" / "glue")
