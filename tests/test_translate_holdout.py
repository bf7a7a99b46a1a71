"""Translate-train never trains on translations of a held-out dev slice (TyDiQA-GoldP's dev comes from train)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from harness import registry
from harness.data.load import load_split
from harness.data.settings import DataSettings


def _ctx(world, tmp_path):
    data = DataSettings(snapshot_root=str(world["hub"]))
    settings = {"tasks": {"tydiqa": {"files": str(tmp_path / "tydiqa.{lang}.json"), "format": "squad",
                                      "languages": ["ar"]}}}
    ctx = SimpleNamespace(data=data, provenance=[], stage=SimpleNamespace(config={"baseline_settings": settings}))
    ctx.load = lambda spec, split, lang: load_split(spec, split, lang, data)[0]
    return ctx


def _write_translations(tmp_path, ids):
    qas = [{"id": i, "question": "q?", "answers": [{"text": "a", "answer_start": 0}]} for i in ids]
    doc = {"data": [{"title": "t", "paragraphs": [{"context": "a b", "qas": qas}]}]}
    (tmp_path / "tydiqa.ar.json").write_text(json.dumps(doc))


def test_translations_of_held_out_dev_examples_are_dropped(offline_world, tmp_path):
    from baselines.translate_train import target_train_columns

    spec = registry.task("tydiqa")
    ctx = _ctx(offline_world, tmp_path)
    english = ctx.load(spec, "train", "en")
    dev = ctx.load(spec, "dev", "en")["id"]
    _write_translations(tmp_path, [dev[0], dev[-1], english["id"][0]])
    columns = target_train_columns(ctx, spec, english)
    translated = [i for i in columns["id"] if i.startswith("ar-")]
    assert translated == [f"ar-{english['id'][0]}"]  # the two translated dev examples are gone
    (record,) = [p for p in ctx.provenance if p.get("source") == "translate_train"]
    assert record["held_out_dropped"] == 2 and record["dev_independence"].startswith("ok")


def test_translations_whose_ids_match_nothing_are_recorded_as_unchecked(offline_world, tmp_path):
    from baselines.translate_train import target_train_columns

    spec = registry.task("tydiqa")
    ctx = _ctx(offline_world, tmp_path)
    _write_translations(tmp_path, ["x-1", "x-2"])
    columns = target_train_columns(ctx, spec, ctx.load(spec, "train", "en"))
    assert sum(i.startswith("ar-") for i in columns["id"]) == 2
    (record,) = [p for p in ctx.provenance if p.get("source") == "translate_train"]
    assert record["held_out_dropped"] == 0 and record["dev_independence"].startswith("unknown")
