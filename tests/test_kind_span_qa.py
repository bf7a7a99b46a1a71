"""Span-QA kind: windows with doc stride, answer positions, n-best decoding, max answer length, v2 nulls."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np
import pytest

from harness import registry
from harness.data.load import load_split
from harness.data.settings import DataSettings
from harness.hparams import Hparams
from harness.kinds import get_kind
from harness.kinds.span_qa import answer_lists
from harness.metrics import metric

HP = Hparams(max_seq_length=48, doc_stride=16)


@pytest.fixture(scope="module")
def tokenizer(offline_world):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(offline_world["model"]))


@pytest.fixture(scope="module")
def data(offline_world):
    settings = DataSettings(snapshot_root=str(offline_world["hub"]))
    return {
        "zh": load_split(registry.task("xquad"), "test", "zh", settings)[0],
        "tydi_en": load_split(registry.task("tydiqa"), "train", "en", settings)[0],
    }


def _span_text(f, context, s, e):
    offsets, c0 = f["offsets"], f["context_start"]
    return context[offsets[s - c0][0]:offsets[e - c0][1]].strip()


def _oracle(features, peak=10.0):
    """Logits that put the start/end on each window's labelled positions (CLS when it has no answer)."""
    outputs = []
    for f in features:
        out = np.zeros((len(f["input_ids"]), 2))
        out[f["start_positions"], 0] = out[f["end_positions"], 1] = peak
        outputs.append(out)
    return outputs


def test_positions_map_back_to_the_answer_and_windows_overlap(tokenizer, data):
    spec, kind = registry.task("xquad"), get_kind("span_qa")
    columns = data["zh"]
    features = kind.featurize(columns, tokenizer, spec, HP)
    by_example = defaultdict(list)
    for f in features:
        assert len(f["input_ids"]) <= HP.max_seq_length
        by_example[f["example"]].append(f)
        if f["start_positions"]:
            gold = answer_lists(columns["answers"][f["example"]])[0][0]
            assert _span_text(f, columns["context"][f["example"]], f["start_positions"], f["end_positions"]) == gold
    assert all(any(f["start_positions"] for f in fs) for fs in by_example.values())
    multi = [fs for fs in by_example.values() if len(fs) > 1]
    assert multi, "some contexts need several windows"
    for fs in multi:
        for a, b in zip(fs, fs[1:], strict=False):
            assert b["offsets"][0][0] < a["offsets"][-1][1]  # doc stride: consecutive windows overlap


def test_decoding_picks_the_gold_span_and_scores_100(tokenizer, data):
    for name, key, lang in (("xquad", "zh", "zh"), ("mlqa", "zh", "zh"), ("tydiqa", "tydi_en", "en")):
        spec, kind = registry.task(name), get_kind("span_qa")
        columns = data[key]
        features = kind.featurize(columns, tokenizer, spec, HP)
        predictions = kind.decode(_oracle(features), features, columns, spec)
        gold = kind.gold(columns, spec)
        assert predictions == {qid: answers[0] for qid, answers in gold.items()}
        assert metric(spec.metric)(gold, predictions, lang) == {"exact_match": 100.0, "f1": 100.0}


def _single(tokenizer, context, question="what zorp", answer=None):
    spec = registry.task("xquad")
    answers = {"text": [answer], "answer_start": [context.index(answer)]} if answer else {"text": [],
                                                                                          "answer_start": []}
    columns = {"id": ["q"], "question": [question], "context": [context], "answers": [answers]}
    features = get_kind("span_qa").featurize(columns, tokenizer, spec, Hparams(max_seq_length=64))
    return spec, columns, features


def test_max_answer_length_and_v2_null_answers(tokenizer):
    kind = get_kind("span_qa")
    spec, columns, features = _single(tokenizer, "aa zorp bcd ef quill xx vemmo", answer="bcd ef")
    (f,) = features
    s, e = f["start_positions"], f["end_positions"]
    assert _span_text(f, columns["context"][0], s, e) == "bcd ef"
    out = np.zeros((len(f["input_ids"]), 2))
    out[s, 0], out[f["context_end"], 1], out[e, 1] = 10.0, 10.0, 9.0  # the longest span scores best
    long_text = kind.decode([out], features, columns, spec)["q"]
    assert long_text.startswith("bcd ef") and len(long_text) > len("bcd ef")
    limit = e - s + 1
    assert kind.decode([out], features, columns, spec, {"max_answer_length": limit})["q"] == "bcd ef"

    null = out.copy()
    null[0] = [12.0, 12.0]  # the null (CLS) score beats every span
    assert kind.decode([null], features, columns, spec)["q"] != ""  # SQuAD v1.1: always a span
    v2 = {"version_2_with_negative": True}
    assert kind.decode([null], features, columns, spec, v2)["q"] == ""
    assert kind.decode([null], features, columns, spec, {**v2, "null_score_diff_threshold": 100.0})["q"] != ""


def test_unanswerable_and_out_of_window_answers_point_at_cls(tokenizer):
    spec, columns, features = _single(tokenizer, "aa zorp bcd ef quill xx")
    assert [(f["start_positions"], f["end_positions"]) for f in features] == [(0, 0)]
    assert get_kind("span_qa").gold(columns, spec) == {"q": [""]}
    context = " ".join(["lorem"] * 80) + " zorp target words"
    _, _, features = _single(tokenizer, context, answer="target words")
    assert len(features) > 1
    assert features[0]["start_positions"] == 0 and features[-1]["start_positions"] > 0


def test_settings_come_from_the_task(tokenizer):
    spec, columns, features = _single(tokenizer, "aa zorp bcd ef quill xx vemmo", answer="bcd ef")
    (f,) = features
    out = np.zeros((len(f["input_ids"]), 2))
    out[f["start_positions"], 0], out[f["context_end"], 1] = 10.0, 10.0
    short = replace(spec, settings={**spec.settings, "max_answer_length": 1})
    text = get_kind("span_qa").decode([out], features, columns, short)["q"]
    assert len(text.split()) <= 1


def test_experiment_settings_reach_featurisation_not_only_decoding(offline_world, tmp_path):
    """task_settings: {xquad: {max_query_length: 4}} used to be ignored when windows were built."""
    from harness import registry
    from harness.data.settings import DataSettings
    from harness.hparams import Hparams
    from harness.kinds import get_kind
    from harness.model import load_encoder
    from harness.stages import StageContext

    ctx = StageContext(stage=None, stage_dir=tmp_path, runs_dir=tmp_path, data=DataSettings())
    base = registry.task("xquad")
    spec = ctx.spec("xquad", {**base.settings, "max_query_length": 4})
    assert spec.settings["max_query_length"] == 4 and registry.task("xquad").settings == base.settings
    _, tokenizer = load_encoder(str(offline_world["model"]))
    columns = {"id": ["q"], "question": [" ".join(["zorp"] * 30)], "context": ["quill vemmo trask"],
               "answers": [{"text": ["vemmo"], "answer_start": [6]}]}
    kind, hp = get_kind("span_qa"), Hparams(max_seq_length=64)
    short = kind.featurize(columns, tokenizer, spec, hp)[0]
    default = kind.featurize(columns, tokenizer, base, hp)[0]
    assert short["context_start"] < default["context_start"]  # the question was cut to 4 tokens
