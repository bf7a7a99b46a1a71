"""XTREME-R's extra languages: the `_xr` specs, their mixed sources and a short end-to-end run."""

from __future__ import annotations

import subprocess

import pytest
from conftest import CLI, TINY_HPARAMS, write_experiment
from xtreme_r_mock import LANGS

from harness import registry
from harness.data.load import load_split
from harness.data.settings import DataSettings
from harness.spec import holds, parts
from harness.store import read_json
from tasks.xtreme import panx, tatoeba, udpos, xquad

# evaluate.py's XTREME_R_TASK2LANGS (google-research/xtreme commit 838c13b), kept once in tests/xtreme_r_mock.py.
XTREME_R = {task: LANGS[task] for task in ("panx", "udpos", "tatoeba", "xquad")}
EXTRA = {"panx": ("qu", "pl", "uk", "az", "lt", "pa", "gu", "ro"), "udpos": ("lt", "pl", "uk", "wo", "ro"),
         "tatoeba": ("az", "lt", "pl", "uk", "ro"), "xquad": ("ro",)}
XTREME_SPECS = {"panx": panx, "udpos": udpos, "tatoeba": tatoeba, "xquad": xquad}


@pytest.mark.parametrize("task", sorted(XTREME_R))
def test_xr_languages_are_evaluate_py_lists(task):
    spec = registry.task(f"{task}_xr")
    assert spec.languages == tuple(XTREME_R[task].split(","))
    assert spec.suites == ("xtreme_r",) and spec.submission.folder == task  # evaluate.py's folder names
    base = registry.task(task)
    assert spec.kind == base.kind and spec.metric == base.metric and spec.labels == base.labels
    assert spec.train == base.train  # English training data unchanged


@pytest.mark.parametrize("task", sorted(XTREME_R))
def test_xtreme_specs_keep_their_languages(task):
    spec = registry.task(task)
    assert spec.languages == XTREME_SPECS[task].LANGUAGES
    assert not set(EXTRA[task]) & set(spec.languages)
    assert spec.split_languages("test") == spec.languages


@pytest.mark.parametrize("task", sorted(XTREME_R))
def test_each_language_is_read_from_one_repository_kind(task):
    """XTREME's languages from google/xtreme as before, each added one from its own repository only."""
    spec = registry.task(f"{task}_xr")
    assert spec.split_languages("test") == spec.languages
    for lang in spec.languages:
        repos = {s.repo for s in parts(spec.test) if holds(s, lang)}
        assert (repos == {"google/xtreme"}) == (lang not in EXTRA[task]), (lang, repos)


def _extra_splits():
    for task, langs in EXTRA.items():
        spec = registry.task(f"{task}_xr")
        for split in ("dev", "test"):
            for lang in spec.split_languages(split, langs):
                yield f"{task}_xr", split, lang


@pytest.mark.parametrize(("name", "split", "lang"), list(_extra_splits()))
def test_every_added_language_loads_from_the_hub_snapshots(offline_world, name, split, lang):
    spec = registry.task(name)
    columns, provenance = load_split(spec, split, lang, DataSettings(snapshot_root=str(offline_world["hub"])))
    n = len(columns["id"])
    assert n > 0 and all(len(v) == n for v in columns.values())
    records = provenance.get("parts", [provenance])
    assert all(r["source"] == "hf" and r["synthetic"] and r["repo"] != "google/xtreme" for r in records)
    if spec.kind == "tagging":
        assert all(len(t) == len(g) > 0 for t, g in zip(columns["tokens"], columns["tags"], strict=True))
        assert {t for tags in columns["tags"] for t in tags} <= set(spec.labels)  # UD's "_" lines dropped
    if name == "udpos_xr":
        assert all(r.get("branch") == "refs/convert/parquet" for r in records)
        if lang == "pl" and split == "test":
            assert len(records) == 3  # pl_lfg + pl_pdb + pl_pud, concatenated


def test_xtreme_languages_of_xr_specs_read_the_xtreme_data(offline_world):
    settings = DataSettings(snapshot_root=str(offline_world["hub"]))
    for task, lang in (("panx", "de"), ("udpos", "de"), ("tatoeba", "de"), ("xquad", "de")):
        xr, _ = load_split(registry.task(f"{task}_xr"), "test", lang, settings)
        base, _ = load_split(registry.task(task), "test", lang, settings)
        assert xr == base


@pytest.mark.slow
def test_panx_xr_end_to_end_with_an_added_language(offline_world, tmp_path):
    body = "name: xr-langs\narms: [none]\ntargets:\n  - {task: panx_xr, languages: [en, pl]}\n" + TINY_HPARAMS
    experiment = write_experiment(tmp_path / "exp.yaml", offline_world, body)
    proc = subprocess.run([*CLI, "run",
                           str(experiment), "--output", str(tmp_path / "runs")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = read_json(tmp_path / "runs" / "experiment.json")
    (stage,) = [s for s in record["stages"] if s["kind"] == "evaluate"]
    test = read_json(tmp_path / "runs" / stage["key"] / "metrics.json")["splits"]["test"]
    assert set(test["languages"]) == {"en", "pl"} and test["score"] is not None
    assert (tmp_path / "runs" / stage["key"] / "predictions" / "test-pl.tsv").is_file()
