"""Which split each language is evaluated on, and dev sets that never touch test data."""

from __future__ import annotations

import pytest
from conftest import TINY_HPARAMS, write_experiment

from harness import registry
from harness.data.holdout import apply_holdout, slice_ids
from harness.data.load import load_split
from harness.data.settings import DataSettings
from harness.spec import Holdout
from harness.store import read_json


def test_udpos_test_only_languages_have_no_dev():
    spec = registry.task("udpos")
    dev, test = spec.split_languages("dev"), spec.split_languages("test")
    assert set(spec.languages) - set(dev) == {"kk", "th", "tl", "yo"}
    assert test == spec.languages
    assert spec.split_languages("dev", ["en", "th"]) == ("en",)
    assert spec.split_languages("train", ["en"]) == ("en",)


def test_xquad_dev_is_english_squad_dev_only():
    spec = registry.task("xquad")
    assert spec.split_languages("dev") == ("en",)
    assert spec.split_languages("test") == spec.languages


def test_holdout_slice_and_rest_partition_the_ids_whatever_their_order():
    ids = [f"q{i}" for i in range(200)]
    columns = {"id": ids, "x": list(range(200))}
    part = Holdout(0.1, 7)
    chosen, record = apply_holdout(columns, part)
    rest, _ = apply_holdout(columns, Holdout(0.1, 7, part="rest"))
    assert len(chosen["id"]) == 20 and record["rows"] == 20 and record["of_rows"] == 200
    assert set(chosen["id"]).isdisjoint(rest["id"]) and set(chosen["id"]) | set(rest["id"]) == set(ids)
    assert chosen["x"] == [int(i[1:]) for i in chosen["id"]]  # rows stay whole and in order
    assert slice_ids(list(reversed(ids)), part) == set(chosen["id"])  # order-independent
    assert slice_ids(ids, Holdout(0.1, 8)) != set(chosen["id"])  # the seed draws the slice


def test_tydiqa_dev_is_a_held_out_slice_of_english_train_disjoint_from_test(offline_world):
    spec = registry.task("tydiqa")
    data = DataSettings(snapshot_root=str(offline_world["hub"]))
    train, train_prov = load_split(spec, "train", "en", data)
    dev, dev_prov = load_split(spec, "dev", "en", data)
    test, _ = load_split(spec, "test", "en", data)
    assert dev["id"] and train["id"]
    assert set(dev["id"]).isdisjoint(train["id"])
    assert set(dev["id"]).isdisjoint(test["id"]) and set(train["id"]).isdisjoint(test["id"])
    assert all(i.startswith("english-") for i in dev["id"] + train["id"])
    total = dev_prov["holdout"]["of_rows"]
    assert len(dev["id"]) + len(train["id"]) == total and len(dev["id"]) == max(1, round(0.1 * total))
    assert dev_prov["holdout"]["part"] == "slice" and train_prov["holdout"]["part"] == "rest"
    assert spec.split_languages("dev") == ("en",)
    assert load_split(spec, "dev", "en", data)[0] == dev  # fixed: the same slice every time


SPLITS_BODY = """name: splits-test
seeds: [1]
arms: [none]
targets:
  - {task: udpos, languages: [en, th]}
  - {task: xquad, languages: [en, zh]}
"""


@pytest.fixture(scope="module")
def split_run(offline_world, tmp_path_factory):
    from harness.cli.run import run_experiment

    tmp = tmp_path_factory.mktemp("splits")
    exp = write_experiment(tmp / "exp.yaml", offline_world, SPLITS_BODY + TINY_HPARAMS)
    runs = tmp / "runs"
    run_experiment(exp, runs, dry_run=False, allow_mixed=False)
    return runs


def _evaluation(runs, task):
    (stage,) = [p for p in runs.iterdir() if p.name.startswith(f"evaluate-{task}-")]
    return stage, read_json(stage / "metrics.json")


def test_a_test_only_language_is_evaluated_on_test_only(split_run):
    stage, metrics = _evaluation(split_run, "udpos")
    assert set(metrics["splits"]["test"]["languages"]) == {"en", "th"}
    assert set(metrics["splits"]["dev"]["languages"]) == {"en"}
    assert metrics["splits"]["test"]["score"] is not None and metrics["splits"]["dev"]["score"] is not None
    assert sorted(p.name for p in (stage / "predictions").iterdir()) == ["dev-en.tsv", "test-en.tsv",
                                                                         "test-th.tsv"]


def test_xquad_dev_is_evaluated_once(split_run):
    stage, metrics = _evaluation(split_run, "xquad")
    assert list(metrics["splits"]["dev"]["languages"]) == ["en"]
    assert set(metrics["splits"]["test"]["languages"]) == {"en", "zh"}
    loads = [(d["split"], d["language"]) for d in read_json(stage / "stage.json")["data"]]
    assert loads.count(("dev", "en")) == 1 and ("dev", "zh") not in loads


def test_the_gpu_hour_estimate_counts_the_held_out_slice_apart():
    from harness.estimate import split_rows

    assert split_rows("tydiqa", "train", ["en"]) == 3326 and split_rows("tydiqa", "dev", ["en"]) == 370
