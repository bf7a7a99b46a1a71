"""LinCE code-mixed targets: specs, loading through the parquet branch with the label maps, the CoNLL reader,
and a tiny end-to-end run."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY_HPARAMS, write_experiment

from harness import registry
from harness.data.load import load_split, map_labels
from harness.data.settings import DataSettings
from harness.errors import UserError
from harness.spec import PARQUET_BRANCH
from tasks.lince import ner, pos
from tasks.lince.conll import read_conll
from tasks.xtreme import panx, udpos

TASKS = {"lince_ner_spaeng": ("spaeng", "ner_spaeng", 10085), "lince_ner_hineng": ("hineng", "ner_hineng", 314),
         "lince_pos_spaeng": ("spaeng", "pos_spaeng", 4298), "lince_pos_hineng": ("hineng", "pos_hineng", 160),
         "lince_sa_spaeng": ("spaeng", "sa_spaeng", 1859)}


def raw(world: dict[str, Path], config: str, split: str = "validation") -> pd.DataFrame:
    return pd.read_parquet(world["hub"] / "lince-benchmark" / "lince" / config / split / "0000.parquet")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_specs_train_on_english_and_test_on_lince_validation(name):
    spec = registry.task(name)
    lang, config, rows = TASKS[name]
    assert spec.role == "target" and spec.languages == (lang,) and spec.train_language == "en"
    assert (spec.test.repo, spec.test.config, spec.test.split) == ("lince-benchmark/lince", config, "validation")
    assert spec.test.revision == PARQUET_BRANCH and spec.test.parquet_branch
    assert spec.test.expected_rows == {lang: rows}
    assert spec.split_languages("test") == (lang,) and spec.split_languages("dev") == ()
    assert spec.split_languages("dev", ["en"]) == ("en",)  # early stopping on the English dev split
    assert "LinCE validation split" in spec.note and "withholds test labels" in spec.note
    assert spec.submission.folder == name


def test_specs_reuse_the_xtreme_sources_and_map_into_their_label_sets():
    n, p = registry.task("lince_ner_spaeng"), registry.task("lince_pos_hineng")
    assert n.labels == panx.NER_TAGS and n.metric == "seqeval_2020" and n.score_metrics == ("f1",)
    assert replace(n.train, languages=None) == panx.TASK.train and n.dev.expected_rows["en"] == 10000
    assert p.labels == udpos.UPOS and p.metric == "token_accuracy" and p.score_metrics == ("accuracy",)
    assert replace(p.train, languages=None) == udpos.TASK.train
    sa = registry.task("lince_sa_spaeng")
    assert (sa.kind, sa.metric, sa.labels) == ("classification", "weighted_f1", ("negative", "neutral", "positive"))
    assert (sa.train.repo, sa.train.config, sa.train.expected_rows) == ("cardiffnlp/tweet_eval", "sentiment",
                                                                         {"en": 45615})
    assert n.settings["label_map"]["B-GROUP"] == "B-ORG" and n.settings["label_map_default"] == "O"
    assert registry.task("lince_ner_hineng").settings["label_map"]["I-PLACE"] == "I-LOC"
    assert p.settings == {"label_map": {"CONJ": "CCONJ", "PART_NEG": "PART", "PRON_WH": "PRON"},
                          "label_map_default": "X", "augment_languages": ["hi"]}
    assert n.settings["augment_languages"] == sa.settings["augment_languages"] == ["es"]
    for tags, spec in ((ner.SPAENG_MAP, n), (pos.SPAENG_MAP, registry.task("lince_pos_spaeng"))):
        assert set(tags.values()) <= set(spec.labels)


def test_ner_loads_english_train_and_dev_and_mapped_lince_validation(offline_world):
    settings = DataSettings(snapshot_root=str(offline_world["hub"]))
    spec = registry.task("lince_ner_spaeng")
    train, _ = load_split(spec, "train", "en", settings)
    english, _ = load_split(panx.TASK, "train", "en", settings)
    assert train["tokens"] == english["tokens"] and train["tags"] == english["tags"]
    dev, _ = load_split(spec, "dev", "en", settings)
    assert len(dev["tokens"]) == 60 and {t for s in dev["tags"] for t in s} <= set(panx.NER_TAGS)
    test, prov = load_split(spec, "test", "spaeng", settings)
    frame = raw(offline_world, "ner_spaeng")
    assert test["tokens"] == [list(w) for w in frame["words"]]
    by_hand = {"B-GROUP": "B-ORG", "I-GROUP": "I-ORG"}
    expected = [[by_hand.get(t, t) if t[2:] in ("PER", "LOC", "ORG", "GROUP") else "O" for t in s]
                for s in frame["ner"]]
    assert test["tags"] == expected and {t for s in test["tags"] for t in s} <= set(panx.NER_TAGS)
    assert prov["branch"] == PARQUET_BRANCH and prov["synthetic"] and prov["rows"] == 24
    assert prov["label_map"]["B-GROUP->B-ORG"] == sum(list(s).count("B-GROUP") for s in frame["ner"]) > 0
    assert any(k.startswith(("B-TIME->", "B-TITLE->", "B-PROD->", "B-EVENT->", "B-OTHER->")) for k in prov["label_map"])


@pytest.mark.parametrize("name", ["lince_ner_hineng", "lince_pos_spaeng", "lince_pos_hineng"])
def test_every_lince_tag_lands_in_the_training_label_set(offline_world, name):
    settings = DataSettings(snapshot_root=str(offline_world["hub"]))
    spec = registry.task(name)
    lang, config, _ = TASKS[name]
    test, prov = load_split(spec, "test", lang, settings)
    frame = raw(offline_world, config)
    column = config.split("_")[0]
    default = spec.settings["label_map_default"]
    table = spec.settings["label_map"]
    assert test["tags"] == [[table.get(t, t if t in spec.labels else default) for t in s] for s in frame[column]]
    assert {t for s in test["tags"] for t in s} <= set(spec.labels) and prov["label_map"]
    train, _ = load_split(spec, "train", "en", settings)
    assert len(train["tokens"]) == 300


def test_sentiment_loads_tweets_and_joined_lince_words(offline_world):
    settings = DataSettings(snapshot_root=str(offline_world["hub"]))
    spec = registry.task("lince_sa_spaeng")
    train, _ = load_split(spec, "train", "en", settings)
    assert len(train["text_a"]) == 150 and set(train["label"]) == {"negative", "neutral", "positive"}
    dev, _ = load_split(spec, "dev", "en", settings)
    assert len(dev["text_a"]) == 30
    test, _ = load_split(spec, "test", "spaeng", settings)
    frame = raw(offline_world, "sa_spaeng")
    assert test["text_a"] == [" ".join(w) for w in frame["words"]] and test["label"] == list(frame["sa"])


def test_a_label_outside_map_and_set_falls_back_to_the_default():
    spec = registry.task("lince_pos_spaeng")
    columns, changes = map_labels({"tags": [["CONJ", "NOUN", "EMOJI"]], "id": ["0"]}, spec)
    assert columns["tags"] == [["CCONJ", "NOUN", "X"]] and changes == {"CONJ->CCONJ": 1, "EMOJI->X": 1}


@pytest.mark.parametrize("name", sorted(TASKS))
def test_the_conll_reader_gives_the_hub_columns(offline_world, name):
    lang, config, _ = TASKS[name]
    spec = registry.task(name)
    folder = offline_world["local"] / "lince" / config
    hub_settings = DataSettings(snapshot_root=str(offline_world["hub"]))
    # the task's own spec: its test split reads the release's dev.conll once the task has a data directory
    with_dir = DataSettings(snapshot_root=str(offline_world["hub"]), data_dirs={name: str(folder)})
    from_files, prov = load_split(spec, "test", lang, with_dir)
    from_hub, hub_prov = load_split(spec, "test", lang, hub_settings)
    assert prov["source"] == "local" and hub_prov["source"] == "hf"
    assert from_files == from_hub  # same rows, ids and mapped labels
    english, english_prov = load_split(spec, "train", "en", with_dir)  # the English side stays on the hub
    assert english_prov["source"] == "hf" and english["tokens" if "tags" in from_hub else "text_a"]
    train = read_conll(folder, lang, "train")
    frame = raw(offline_world, config, "train")
    if "tags" in train:
        assert train["tokens"] == [list(w) for w in frame["words"]]
        assert train["tags"] == [list(t) for t in frame[config.split("_")[0]]]
    else:
        assert train["label"] == list(frame["sa"]) and train["id"][0] == f"{lang}-train-0"
    test = read_conll(folder, lang, "test")  # LinCE withholds test labels: the file has none
    labels = test.get("tags") or [test["label"]]
    assert all(t is None for s in labels for t in s) and len(test["id"]) == 8


def test_the_conll_reader_parses_hand_written_files(tmp_path):
    folder = tmp_path / "sa_spaeng"
    folder.mkdir()
    (folder / "dev.conll").write_text("# sent_enum = 0\tpositive\nhola\tlang2\n:)\tother\n\n\n"
                                      "# sent_enum = 1\tnegative\nbad\tlang1\n", encoding="utf-8")
    assert read_conll(folder, "spaeng", "validation") == {
        "text_a": ["hola :)", "bad"], "label": ["positive", "negative"], "id": ["spaeng-validation-0",
                                                                              "spaeng-validation-1"]}
    ner_dir = tmp_path / "ner_spaeng"
    ner_dir.mkdir()
    (ner_dir / "train.conll").write_text("Juan\tlang2\tB-PER\nvino\tlang2\tO\n\nok\tlang1\tO\n", encoding="utf-8")
    assert read_conll(ner_dir, "spaeng", "train")["tags"] == [["B-PER", "O"], ["O"]]
    (ner_dir / "dev.conll").write_text("Juan\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"dev.conll:1: 1 column\(s\)"):
        read_conll(ner_dir, "spaeng", "dev")
    with pytest.raises(UserError, match="test.conll: missing"):
        read_conll(ner_dir, "spaeng", "test")
    with pytest.raises(UserError, match="no split 'gold'"):
        read_conll(ner_dir, "spaeng", "gold")


BODY = """name: lince
seeds: [1]
arms: [none]
targets:
  - {task: lince_ner_spaeng}
  - {task: lince_sa_spaeng}
splits: [dev, test]
""" + TINY_HPARAMS


def test_lince_targets_run_end_to_end(offline_world, tmp_path, xstilts):
    exp = write_experiment(tmp_path / "exp.yaml", offline_world, BODY)
    code, _, err = xstilts("run", exp, "-o", tmp_path / "runs")
    assert code == 0, err
    wanted = {"lince_ner_spaeng": {"f1", "precision", "recall", "token_accuracy"},
              "lince_sa_spaeng": {"weighted_f1", "accuracy"}}
    for name, metric_names in wanted.items():
        (evaluate,) = (tmp_path / "runs").glob(f"evaluate-{name}-*")
        result = json.loads((evaluate / "metrics.json").read_text())
        test = result["splits"]["test"]
        assert test["score"] is not None and 0 <= test["score"] <= 100, test
        assert set(test["languages"]["spaeng"]) == metric_names, test
        assert (evaluate / "predictions" / "test-spaeng.tsv").is_file()
    code, _, err = xstilts("leaderboard", tmp_path / "runs", "--out", tmp_path / "reports")
    assert code == 0, err
    markdown = (tmp_path / "reports" / "leaderboard.md").read_text()
    assert f"- lince_ner_spaeng: {registry.task('lince_ner_spaeng').note}" in markdown and "spaeng" in markdown
    board = json.loads((tmp_path / "reports" / "leaderboard.json").read_text())
    assert board["tasks"]["lince_sa_spaeng"]["note"].startswith("test = LinCE validation split")
