"""The offline world covers every split, language and file the paper grid (experiments/paper.yaml) reads."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from harness import registry
from harness.data.load import load_split
from harness.data.settings import DataSettings
from harness.data.snapshot import read_configs
from harness.spec import HFSource, LocalSource, parts
from tasks.fixtures.local_data import BUCC_DIR, CCG_DIR, TRANSLATE_DIR

ROOT = Path(__file__).resolve().parent.parent
PAPER = yaml.safe_load((ROOT / "experiments" / "paper.yaml").read_text(encoding="utf-8"))
DATA_DIRS = {"ccg": CCG_DIR, "bucc2018": BUCC_DIR}
"""The paper's data.data_dirs (CCGBANK_DIR, BUCC_DIR) -> the world's local/ folders."""


def _arms(baseline: str) -> list[dict]:
    return [a for a in PAPER["arms"] if isinstance(a, dict) and a.get("baseline") == baseline]


def _paper_tasks() -> list[str]:
    """Every task the grid trains or evaluates: the targets and the arms' intermediate tasks."""
    names = [t if isinstance(t, str) else t["task"] for t in PAPER["targets"]]
    for arm in PAPER["arms"]:
        names += [arm] if isinstance(arm, str) else arm.get("tasks", [])
    return sorted(set(names) - {"none"})


@cache
def _listed(hub: Path, repo: str) -> set[tuple[str, str]]:
    """(config, split) pairs in a snapshot's README, as load_dataset sees them."""
    return {(c["config_name"], f["split"]) for c in read_configs(hub / repo) for f in c["data_files"]}


def _split_languages(spec, split: str) -> tuple[str, ...]:
    return (spec.train_language,) if split == "train" else spec.split_languages(split)


@pytest.mark.parametrize("name", _paper_tasks())
def test_every_split_and_language_of_the_paper_grid_is_written(offline_world, name):
    spec, local = registry.task(name), offline_world["local"]
    settings = DataSettings(snapshot_root=str(offline_world["hub"]),
                            data_dirs={k: str(local / v) for k, v in DATA_DIRS.items()})
    for split in ("train", "dev", "test"):
        for lang in _split_languages(spec, split):
            for source in parts(spec.source(split)):
                if isinstance(source, HFSource):
                    config = source.config_for(lang) or "default"  # no config: the repository's only one
                    assert (config, source.split) in _listed(offline_world["hub"], source.repo), (name, lang)
                if isinstance(source, LocalSource) or source.where:  # rows filtered out of a shared config
                    columns, _ = load_split(spec, split, lang, settings)
                    assert all(len(values) > 0 for values in columns.values()), (name, split, lang)


def test_treebanks_without_splits_mirror_the_real_data(offline_world):
    listed = _listed(offline_world["hub"], "google/xtreme")
    splits = {lang: {s for c, s in listed if c == f"udpos.{name}"} for lang, name in
              (("th", "Thai"), ("tl", "Tagalog"), ("yo", "Yoruba"), ("kk", "Kazakh"), ("de", "German"))}
    assert splits == {"th": {"test"}, "tl": {"test"}, "yo": {"test"}, "kk": {"train", "test"},
                      "de": {"train", "validation", "test"}}


def test_tydiqa_train_mixes_languages_and_the_task_keeps_english(offline_world):
    from datasets import load_dataset

    ids = load_dataset(str(offline_world["hub"] / "google" / "xtreme"), "tydiqa", split="train")["id"]
    prefixes = {i.split("-")[0] for i in ids}
    assert "english" in prefixes and len(prefixes) == len(registry.task("tydiqa").languages)
    english = sum(i.startswith("english-") for i in ids)
    columns, _ = load_split(registry.task("tydiqa"), "train", "en",
                            DataSettings(snapshot_root=str(offline_world["hub"])))
    assert 0 < len(columns["id"]) <= english < len(ids)
    assert all(i.startswith("english-") for i in columns["id"])


def test_translate_train_sources_cover_every_language(offline_world):
    from baselines.translate_train import read_squad

    translations = [item for arm in _arms("translate_train") for item in arm["settings"]["tasks"].items()]
    assert {task for task, _ in translations} >= {"xnli", "pawsx", "xquad", "mlqa", "tydiqa"}
    for task, source in translations:
        spec = registry.task(task)
        languages = source.get("languages") or [lang for lang in spec.languages if lang != spec.train_language]
        for lang in languages:
            if "repo" in source:
                listed = _listed(offline_world["hub"], source["repo"])
                assert (source["config"].format(lang=lang), source.get("split", "train")) in listed
                continue
            template = re.sub(r"\$\{TRANSLATE_TRAIN_DIR[^}]*\}", str(offline_world["local"] / TRANSLATE_DIR),
                              source["files"])
            columns = read_squad(Path(template.format(lang=lang)))
            assert columns["id"], (task, lang)
            for context, answers in zip(columns["context"], columns["answers"], strict=True):
                start, text = answers["answer_start"][0], answers["text"][0]
                assert context[start:start + len(text)] == text


def test_mlm_corpus_has_every_language_in_the_hub_schema(offline_world):
    from datasets import load_dataset

    (arm,) = _arms("mlm")
    hf = arm["settings"]["hf"]
    listed = _listed(offline_world["hub"], hf["repo"])
    for lang in arm["settings"]["languages"]:
        assert (hf["config"].format(lang=lang), hf["split"]) in listed
    ds = load_dataset(str(offline_world["hub"] / hf["repo"]), hf["config"].format(lang="de"), split=hf["split"])
    assert ds.column_names == ["id", "url", "title", "text"] and len(ds) > 1
    assert all("\n" in text for text in ds[hf["text"]]) and ds["url"][0].startswith("https://de.wikipedia.org/")


def test_local_layouts_are_the_release_ones(offline_world):
    local = offline_world["local"]
    assert sorted(p.name for p in (local / CCG_DIR).iterdir()) == ["dev.tsv", "test.tsv", "train.tsv"]
    for lang in registry.task("bucc2018").languages:
        names = {p.name for p in (local / BUCC_DIR / f"{lang}-en").iterdir()}
        assert names == {f"{lang}-en.{split}.{ext}" for split in ("sample", "training") for ext in (lang, "en", "gold")}
    sample = json.loads((local / TRANSLATE_DIR / "squad.translate.train.en-de.json").read_text(encoding="utf-8"))
    assert sample["version"] == "1.1" and sample["data"][0]["paragraphs"][0]["qas"][0]["answers"]
