"""Translated intermediate tasks (xnli_mt, squad_mt, squad_mt_xtreme): specs, every language through the hub or
local code path, the languages each source holds, and a multilingual intermediate stage end to end."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import TINY_HPARAMS, write_experiment

from harness import registry
from harness.data.load import load_split
from harness.data.settings import DataSettings
from harness.data.snapshot import write_parquet_branch
from harness.errors import UserError
from harness.spec import PARQUET_BRANCH, HFSource, LocalSource, holds, parts
from tasks.fixtures.facebook_xnli import SIZES as XNLI_SIZES
from tasks.fixtures.local_data import TRANSLATE_DIR, TRANSLATED_ROWS
from tasks.fixtures.translated import MLQA_MT_SIZES
from tasks.intermediate.translated import read_xtreme_squad

XNLI_LANGS = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
MLQA_MT = ("es", "de", "ar", "hi", "vi", "zh")
XTREME_MT = ("es", "de", "el", "ru", "tr", "ar", "vi", "th", "zh", "hi")
SQUAD_FIXTURE_ROWS = {"train": 200, "dev": 40}
"""rajpurkar/squad rows in tasks.fixtures.intermediate."""
QA_FIELDS = {"id", "context", "question", "answers"}


def _hub(world) -> DataSettings:
    return DataSettings(snapshot_root=str(world["hub"]))


def _local(world) -> DataSettings:
    return DataSettings(snapshot_root=str(world["hub"]),
                        data_dirs={"squad_mt_xtreme": str(world["local"] / TRANSLATE_DIR)})


def _spans_match(columns: dict[str, list]) -> None:
    assert set(columns) == QA_FIELDS and len(set(columns["id"])) == len(columns["id"]) > 0
    for context, answers in zip(columns["context"], columns["answers"], strict=True):
        assert answers["text"] and len(answers["text"]) == len(answers["answer_start"])
        for text, start in zip(answers["text"], answers["answer_start"], strict=True):
            assert context[start:start + len(text)] == text


def test_xnli_mt_spec():
    spec, mnli = registry.task("xnli_mt"), registry.task("mnli")
    assert (spec.kind, spec.metric, spec.role, spec.train_language) == ("classification", "accuracy",
                                                                        "intermediate", "en")
    assert spec.languages == XNLI_LANGS and spec.labels == ("entailment", "neutral", "contradiction")
    assert spec.hparams == mnli.hparams and spec.settings == {"train_languages": "all"}
    assert (spec.train.repo, spec.train.config, spec.train.split) == ("facebook/xnli", "{lang}", "train")
    assert (spec.dev.repo, spec.dev.split) == ("facebook/xnli", "validation") and spec.test is None
    assert spec.train.expected_rows == dict.fromkeys(XNLI_LANGS, 392702)
    assert spec.dev.expected_rows == dict.fromkeys(XNLI_LANGS, 2490)
    assert registry.task("mnli_mt") is spec


def test_squad_mt_specs():
    squad = registry.task("squad")
    mt, xtreme = registry.task("squad_mt"), registry.task("squad_mt_xtreme")
    for spec in (mt, xtreme):
        assert (spec.kind, spec.metric, spec.role, spec.train_language) == ("span_qa", "squad", "intermediate", "en")
        assert spec.hparams == squad.hparams
        assert spec.settings == {"max_answer_length": 30, "train_languages": "all"}
        english = parts(spec.train)[0]
        assert (english.repo, english.split, english.expected_rows) == ("rajpurkar/squad", "train", {"en": 87599})
    assert mt.languages == ("en", *MLQA_MT) and xtreme.languages == ("en", *XTREME_MT)
    translated = parts(mt.train)[1]
    assert (translated.repo, translated.config, translated.revision) == (
        "facebook/mlqa", "mlqa-translate-train.{lang}", PARQUET_BRANCH)
    assert translated.parquet_branch and translated.data_files("de") == (
        "mlqa-translate-train.de/train/*.parquet", "mlqa-translate-train.de/partial-train/*.parquet")
    assert translated.expected_rows == {"ar": 78058, "de": 80069, "es": 81810, "hi": 82451, "vi": 84816,
                                        "zh": 76285}
    assert parts(mt.dev)[1].expected_rows == {"ar": 9512, "de": 9927, "es": 10123, "hi": 10253, "vi": 10356,
                                              "zh": 9568}
    local = parts(xtreme.train)[1]
    assert isinstance(local, LocalSource) and local.layout == "squad.translate.train.en-{lang}.json"


@pytest.mark.parametrize("name, train, dev", [
    ("xnli_mt", {"facebook/xnli": XNLI_LANGS}, {"facebook/xnli": XNLI_LANGS}),
    ("squad_mt", {"rajpurkar/squad": ("en",), "facebook/mlqa": MLQA_MT},
     {"rajpurkar/squad": ("en",), "facebook/mlqa": MLQA_MT}),
    ("squad_mt_xtreme", {"rajpurkar/squad": ("en",), "local": XTREME_MT}, {"rajpurkar/squad": ("en",)}),
])
def test_each_language_has_exactly_one_source(name, train, dev):
    spec = registry.task(name)
    for split, expected in (("train", train), ("dev", dev)):
        sources = parts(spec.source(split))
        held = {s.repo if isinstance(s, HFSource) else "local": tuple(lang for lang in spec.languages if holds(s, lang))
                for s in sources}
        assert held == expected
        assert all(sum(holds(s, lang) for s in sources) == 1 for lang in spec.split_languages(split))
    assert spec.split_languages("train") == spec.languages  # every language trains
    assert spec.split_languages("dev") == tuple(lang for lang in spec.languages if any(lang in v for v in dev.values()))


@pytest.mark.parametrize("lang", XNLI_LANGS)
def test_xnli_mt_loads_every_language(offline_world, lang):
    spec = registry.task("xnli_mt")
    for split, source_split in (("train", "train"), ("dev", "validation")):
        columns, prov = load_split(spec, split, lang, _hub(offline_world))
        raw = pd.read_parquet(next((offline_world["hub"] / "facebook/xnli" / lang).glob(f"{source_split}-*.parquet")))
        assert set(columns) == {"id", "text_a", "text_b", "label"} and len(columns["id"]) == XNLI_SIZES[source_split]
        assert columns["text_a"] == list(raw["premise"]) and columns["text_b"] == list(raw["hypothesis"])
        assert columns["label"] == [spec.labels[i] for i in raw["label"]]  # ClassLabel ids -> names
        assert (prov["repo"], prov["config"], prov["split"], prov["synthetic"]) == ("facebook/xnli", lang,
                                                                                    source_split, True)


@pytest.mark.parametrize("lang", ("en", *MLQA_MT))
def test_squad_mt_loads_every_language(offline_world, lang):
    spec = registry.task("squad_mt")
    for split in ("train", "dev"):
        columns, prov = load_split(spec, split, lang, _hub(offline_world))
        _spans_match(columns)
        if lang == "en":
            assert prov["repo"] == "rajpurkar/squad" and len(columns["id"]) == SQUAD_FIXTURE_ROWS[split]
            continue
        source_split = {"train": "train", "dev": "validation"}[split]
        assert (prov["repo"], prov["config"], prov["branch"]) == ("facebook/mlqa", f"mlqa-translate-train.{lang}",
                                                                   PARQUET_BRANCH)
        assert prov["data_files"][0] == f"mlqa-translate-train.{lang}/{source_split}/*.parquet"
        assert len(columns["id"]) == MLQA_MT_SIZES[source_split] and prov["synthetic"]
        raw = pd.read_parquet(offline_world["hub"] / f"facebook/mlqa/mlqa-translate-train.{lang}/{source_split}"
                              / "0000.parquet")
        assert list(raw.columns) == ["context", "question", "answers", "id"]  # the configs' schema, no title
        assert columns["id"] == list(raw["id"]) and columns["context"] == list(raw["context"])


@pytest.mark.parametrize("lang", ("en", *XTREME_MT))
def test_squad_mt_xtreme_loads_every_language(offline_world, lang):
    spec = registry.task("squad_mt_xtreme")
    columns, prov = load_split(spec, "train", lang, _local(offline_world))
    _spans_match(columns)
    if lang == "en":
        assert prov["repo"] == "rajpurkar/squad" and len(columns["id"]) == SQUAD_FIXTURE_ROWS["train"]
        return
    assert prov["source"] == "local" and prov["dir"] == str(offline_world["local"] / TRANSLATE_DIR)
    assert len(columns["id"]) == TRANSLATED_ROWS and all(i.startswith(f"squad-{lang}-") for i in columns["id"])
    assert spec.split_languages("dev", [lang]) == ()  # no translated dev set: English selects


def test_read_xtreme_squad_reads_squad_json_exactly(tmp_path):
    doc = {"version": "1.1", "data": [{"title": "T", "paragraphs": [
        {"context": "Das Haus ist rot.", "qas": [
            {"id": "a1", "question": "Welche Farbe?", "answers": [{"text": "rot", "answer_start": 13}]},
            {"id": "a2", "question": "Was ist rot?", "answers": [{"text": "Das Haus", "answer_start": 0}]}]},
        {"context": "Er schläft.", "qas": [
            {"id": "b1", "question": "Wer?", "answers": [{"text": "Er", "answer_start": 0}]}]}]}]}
    (tmp_path / "squad.translate.train.en-de.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    columns = read_xtreme_squad(tmp_path, "de", "train")
    assert columns == {
        "id": ["a1", "a2", "b1"],
        "context": ["Das Haus ist rot.", "Das Haus ist rot.", "Er schläft."],
        "question": ["Welche Farbe?", "Was ist rot?", "Wer?"],
        "answers": [{"text": ["rot"], "answer_start": [13]}, {"text": ["Das Haus"], "answer_start": [0]},
                    {"text": ["Er"], "answer_start": [0]}],
    }
    _spans_match(columns)


def _one_line_error(call, match: str) -> str:
    with pytest.raises(UserError, match=match) as info:
        call()
    assert "\n" not in str(info.value)
    return str(info.value)


def test_squad_mt_xtreme_bad_data_dirs_are_one_line_user_errors(offline_world, tmp_path):
    spec = registry.task("squad_mt_xtreme")
    _one_line_error(lambda: load_split(spec, "train", "de", _hub(offline_world)),
                    "reads local files.*pass --data-dir or set data.data_dirs.squad_mt_xtreme")
    missing = DataSettings(data_dirs={"squad_mt_xtreme": str(tmp_path / "nowhere")})
    _one_line_error(lambda: load_split(spec, "train", "de", missing), "nowhere")
    empty = DataSettings(data_dirs={"squad_mt_xtreme": str(tmp_path)})
    _one_line_error(lambda: load_split(spec, "train", "de", empty),
                    r"no translated SQuAD file for 'de' at .*squad\.translate\.train\.en-de\.json")
    (tmp_path / "squad.translate.train.en-el.json").write_text("{not json", encoding="utf-8")
    _one_line_error(lambda: load_split(spec, "train", "el", empty), "is not SQuAD v1.1 JSON")
    (tmp_path / "squad.translate.train.en-ru.json").write_text('{"version": "1.1", "data": []}', encoding="utf-8")
    _one_line_error(lambda: load_split(spec, "train", "ru", empty), "holds no questions")


def test_real_snapshots_are_checked_against_the_pinned_row_counts(tmp_path):
    """A snapshot that is not synthetic must have the public release's rows (here 2 for de's 80,069)."""
    root = write_parquet_branch(tmp_path / "facebook" / "mlqa", {"mlqa-translate-train.de": {"train": {
        "context": ["a b"], "question": ["q"], "answers": [{"answer_start": [0], "text": ["a"]}], "id": ["x"]}}})
    (root / "README.md").write_text("a downloaded parquet branch\n", encoding="utf-8")
    _one_line_error(lambda: load_split(registry.task("squad_mt"), "train", "de",
                                       DataSettings(snapshot_root=str(tmp_path))),
                    "has 1 rows for language 'de' of task 'squad_mt' train .*expected 80069")


def test_an_arm_narrows_xnli_mt_to_two_languages_end_to_end(offline_world, tmp_path):
    from harness.cli.run import run_experiment

    body = ("name: xnli-mt-test\nseeds: [1]\n"
            "arms:\n  - {name: mt-de, tasks: [xnli_mt], task_settings: {xnli_mt: {train_languages: [en, de]}}}\n"
            "targets:\n  - {task: xnli, languages: [en, de]}\nsplits: [dev]\n" + TINY_HPARAMS)
    exp = write_experiment(tmp_path / "exp.yaml", offline_world, body)
    runs = tmp_path / "runs"
    run_experiment(exp, runs, dry_run=False, allow_mixed=False)
    (stage,) = runs.glob("intermediate-*")
    data = json.loads((stage / "stage.json").read_text())["data"]
    train = [(d["repo"], d["config"], d["rows"]) for d in data if d["split"] == "train" and "repo" in d]
    assert train == [("facebook/xnli", "en", XNLI_SIZES["train"]), ("facebook/xnli", "de", XNLI_SIZES["train"])]
    (mix,) = [d for d in data if d.get("source") == "language_mix"]
    assert mix["rows_drawn"] == {"en": XNLI_SIZES["train"], "de": XNLI_SIZES["train"]}  # proportional by default
    dev = [(d["repo"], d["config"]) for d in data if d["split"] == "dev"]
    assert dev == [("facebook/xnli", "en")]  # English selects
    assert (stage / "done").exists()
