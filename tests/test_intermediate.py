"""Intermediate tasks: data loading in the hub schemas, ANLI+ concatenation, multiple-choice and CCG
featurisation, the feature cache, and the user errors of this area."""

from __future__ import annotations

import pytest
from conftest import write_experiment

from harness import registry
from harness.data.load import load_split, with_labels
from harness.data.settings import DataSettings
from harness.errors import UserError
from harness.hparams import Hparams
from harness.kinds import get_kind

HP = Hparams(max_seq_length=48)


@pytest.fixture(scope="module")
def world(offline_world):
    from transformers import AutoTokenizer

    return DataSettings(snapshot_root=str(offline_world["hub"])), AutoTokenizer.from_pretrained(
        offline_world["model"])


def test_anli_plus_concatenates_rounds_snli_and_mnli(world):
    data, _ = world
    columns, prov = load_split(registry.task("anli"), "train", "en", data)
    parts = [p["rows"] for p in prov["parts"]]
    assert [p["repo"] for p in prov["parts"]] == ["facebook/anli"] * 3 + ["stanfordnlp/snli", "nyu-mll/glue"]
    assert parts == [80, 80, 80, 108, 1200]  # SNLI: 120 pairs, the 12 without a gold label dropped
    assert len(columns["label"]) == sum(parts) and len(set(columns["id"])) == sum(parts)
    assert set(columns["label"]) == {"entailment", "neutral", "contradiction"}
    assert len(load_split(registry.task("anli_r3"), "train", "en", data)[0]["id"]) == 80


@pytest.mark.parametrize("name,n_choices", [("hellaswag", 4), ("cosmosqa", 4), ("commonsenseqa", 5)])
def test_multiple_choice_featurisation_collate_and_scores(world, name, n_choices):
    import torch

    data, tokenizer = world
    spec = registry.task(name)
    columns, _ = load_split(spec, "dev", "en", data)
    assert all(len(c) == n_choices for c in columns["choices"]) and set(columns["label"]) <= set(range(n_choices))
    kind = get_kind("multiple_choice")
    features = kind.featurize(columns, tokenizer, spec, HP)
    assert len(features) == len(columns["id"]) and all(len(f["input_ids"]) == n_choices for f in features)
    assert all(len(ids) <= 48 for f in features for ids in f["input_ids"])
    assert [f["labels"] for f in features] == columns["label"]
    batch = kind.collate(features[:3], tokenizer.pad_token_id)
    width = max(kind.length(f) for f in features[:3])
    assert batch["input_ids"].shape == (3, n_choices, width) and batch["choice_mask"].all()
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(str(world_model_dir(tokenizer)))
    head = kind.build_head(encoder.config.hidden_size, spec, HP)
    scores = kind.forward(encoder, head, batch)
    assert scores.shape == (3, n_choices) and torch.isfinite(kind.loss(scores, batch))
    assert kind.gold(columns, spec)[:3] == [str(k) for k in columns["label"][:3]]
    assert kind.decode([s.detach().numpy() for s in scores], features[:3], columns, spec) == [
        str(int(s.argmax())) for s in scores]


def world_model_dir(tokenizer):
    return tokenizer.name_or_path


def test_multiple_choice_pads_missing_choices_and_masks_them(world):
    _, tokenizer = world
    kind = get_kind("multiple_choice")
    features = [{"input_ids": [[0, 5, 2], [0, 6, 7, 2]], "labels": 1}, {"input_ids": [[0, 5, 2]] * 3, "labels": 0}]
    batch = kind.collate(features, 1)
    assert batch["input_ids"].shape == (2, 3, 4)
    assert batch["choice_mask"].tolist() == [[True, True, False], [True, True, True]]


def test_hidden_test_labels_become_none(world):
    data, _ = world
    for name in ("hellaswag", "cosmosqa", "commonsenseqa"):
        spec = registry.task(name)
        test = spec.test or spec.dev
        assert test is not None
    from tasks.intermediate.multiple_choice import index_label, lettered_choices

    assert index_label({"label": ["2", "", -1, 0]})["label"] == [2, None, None, 0]
    cols = lettered_choices({"choices": [{"label": ["A", "B"], "text": ["x", "y"]}], "label": ["B"]})
    assert cols == {"choices": [["x", "y"]], "label": [1]}


def test_squad_and_qqp_load_in_their_schemas(world):
    data, _ = world
    squad, _ = load_split(registry.task("squad_v2"), "dev", "en", data)
    assert any(a["text"] == [] for a in squad["answers"]) and any(a["text"] for a in squad["answers"])
    first = next(i for i, a in enumerate(squad["answers"]) if a["text"])
    start, text = squad["answers"][first]["answer_start"][0], squad["answers"][first]["text"][0]
    assert squad["context"][first][start:start + len(text)] == text
    qqp, _ = load_split(registry.task("qqp"), "dev", "en", data)
    assert set(qqp["label"]) == {"0", "1"}


def test_ccg_reader_labels_and_tagging_features(tmp_path, world):
    from tasks.fixtures.intermediate import write_ccg

    _, tokenizer = world
    data = DataSettings(data_dirs={"ccg": str(write_ccg(tmp_path / "ccg"))})
    spec = with_labels(registry.task("ccg"), data)
    assert spec.labels == ("(S\\NP)/NP", "N", "NP", "NP/N", "S[dcl]\\NP")
    columns, prov = load_split(spec, "train", "en", data)
    assert prov["source"] == "local" and len(columns["tokens"]) == 60
    assert all(len(t) == len(g) for t, g in zip(columns["tokens"], columns["tags"], strict=True))
    features = get_kind("tagging").featurize(columns, tokenizer, spec, HP)
    assert len(features) >= 60 and all("labels" in f for f in features)
    (tmp_path / "ccg" / "dev.tsv").unlink()
    with pytest.raises(UserError, match=r"dev\.tsv"):
        load_split(spec, "dev", "en", data)


def test_feature_cache_hit_does_no_tokenization(world, tmp_path, monkeypatch):
    from harness import features_cache

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    data, tokenizer = world
    spec, kind = registry.task("hellaswag"), get_kind("multiple_choice")
    columns, _ = load_split(spec, "train", "en", data)
    calls = []
    real = kind.featurize
    monkeypatch.setattr(kind, "featurize", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = features_cache.cached_features(kind, columns, tokenizer, spec, HP, "train", "en")
    second = features_cache.cached_features(kind, columns, tokenizer, spec, HP, "train", "en")
    assert calls == [1] and first == second
    other = features_cache.cached_features(kind, columns, tokenizer, spec, Hparams(max_seq_length=8), "train", "en")
    assert calls == [1, 1] and other != first  # max_seq_length is part of the key


def test_feature_cache_round_trips_irregular_fields(tmp_path, monkeypatch):
    from harness import features_cache

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path))
    features = [{"input_ids": [1, 2], "example": 0, "offsets": [[0, 1], None], "word": "a"},
                {"input_ids": [3], "example": 1, "offsets": [], "word": "b"}]
    features_cache.store("k", features)
    assert features_cache.load("k") == features


def _kind_cases(world, tmp_path):
    """(kind, spec, columns, data) of every cached kind on fixture data."""
    from tasks.fixtures.intermediate import write_ccg

    data, _ = world
    ccg_data = DataSettings(data_dirs={"ccg": str(write_ccg(tmp_path / "ccg"))})
    cases = []
    for name, split, settings in (("mnli", "train", data), ("hellaswag", "train", data),
                                  ("squad_v2", "dev", data), ("ccg", "train", ccg_data)):
        spec = with_labels(registry.task(name), settings)
        cases.append((get_kind(spec.kind), spec, load_split(spec, split, "en", settings)[0]))
    return cases


def _same_batches(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and a[k].equal(b[k]) for k in a)


def test_warm_cache_is_a_lazy_sequence_equal_to_the_cold_features_for_every_kind(world, tmp_path, monkeypatch):
    import numpy as np

    from harness import features_cache

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    _, tokenizer = world
    cases = _kind_cases(world, tmp_path)
    assert {kind.name for kind, _, _ in cases} == {"classification", "multiple_choice", "span_qa", "tagging"}
    for kind, spec, columns in cases:
        cold = features_cache.cached_features(kind, columns, tokenizer, spec, HP, "train", "en")
        warm = features_cache.cached_features(kind, columns, tokenizer, spec, HP, "train", "en")
        assert isinstance(cold, list) and isinstance(warm, features_cache.CachedFeatures), kind.name
        assert len(warm) == len(cold) > 0 and list(warm) == cold and warm == cold and cold == warm
        assert all(warm[i] == cold[i] for i in range(len(cold))), kind.name
        assert all(type(v) is type(cold[0][k]) for k, v in warm[0].items()) and warm[0].keys() == cold[0].keys()
        assert warm[-1] == cold[-1] and warm[1:5] == cold[1:5] and warm[::-3] == cold[::-3]
        with pytest.raises(IndexError):
            warm[len(cold)]
        assert warm.lengths(kind.length) == [kind.length(f) for f in cold], kind.name
        idx = list(range(0, len(cold), max(1, len(cold) // 6)))[:6]
        assert _same_batches(kind.collate([warm[i] for i in idx], tokenizer.pad_token_id),
                             kind.collate([cold[i] for i in idx], tokenizer.pad_token_id)), kind.name
        if kind.name == "span_qa":  # decode reads each feature's offsets and context bounds
            outputs = [np.linspace(-1, 1, 2 * len(f["input_ids"])).reshape(-1, 2) for f in cold]
            assert kind.decode(outputs, warm, columns, spec) == kind.decode(outputs, cold, columns, spec)
        first = warm[0]
        first["input_ids"].append(-1)
        first["new"] = 1
        assert warm[0] == cold[0]  # every access builds a fresh feature: the cache is read-only


def test_cached_lengths_match_every_kind_length_including_overrides(tmp_path, monkeypatch):
    from harness import features_cache
    from harness.kinds.base import Kind

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path))
    mc = [{"input_ids": [[0, 5, 2], [0, 6, 7, 8, 2]], "labels": 1}, {"input_ids": [[0, 5, 2]] * 3, "labels": 0},
          {"input_ids": [[0, 2], []], "labels": 0}]
    flat = [{"input_ids": [0] * n, "example": n} for n in (3, 1, 7, 2)]
    features_cache.store("mc", mc)
    features_cache.store("flat", flat)

    class Doubled(Kind):
        @staticmethod
        def length(feature):
            return 2 * len(feature["input_ids"])

    mc_kind = get_kind("multiple_choice")
    for key, features in (("mc", mc), ("flat", flat)):
        cached = features_cache.load(key)
        for length in (Kind.length, mc_kind.length, Doubled.length, get_kind("tagging").length):
            if length is mc_kind.length and key == "flat":
                continue  # a list of ints has no per-choice rows
            assert cached.lengths(length) == [length(f) for f in features], (key, length)
        assert cached.lengths() == [len(f["input_ids"]) for f in features]
    features_cache.store("mc0", [{"input_ids": [], "labels": 0}, *mc])
    with pytest.raises(ValueError):  # max() of no choices: the kind's own error, not a made-up length
        features_cache.load("mc0").lengths(mc_kind.length)


def test_mlm_features_and_empty_entries_round_trip(world, tmp_path, monkeypatch):
    from harness import features_cache
    from harness.kinds.mlm import MLMKind

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path))
    _, tokenizer = world
    kind = MLMKind.for_tokenizer(tokenizer)
    features = kind.featurize({"text": ["one two three", "", "four five"]}, tokenizer, None, HP)
    features_cache.store("mlm", features)
    cached = features_cache.load("mlm")
    assert cached == features and cached.lengths(kind.length) == [kind.length(f) for f in features]
    assert _same_batches(MLMKind.for_tokenizer(tokenizer).collate(list(cached), tokenizer.pad_token_id),
                         MLMKind.for_tokenizer(tokenizer).collate(features, tokenizer.pad_token_id))
    features_cache.store("empty", [])
    empty = features_cache.load("empty")
    assert len(empty) == 0 and not empty and empty == [] and empty.lengths() == []


def test_damaged_cache_entry_is_recomputed(world, tmp_path, monkeypatch):
    import numpy as np

    from harness import features_cache

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path))
    good = [{"input_ids": [1, 2, 3], "example": 0}, {"input_ids": [4], "example": 1}]
    features_cache.store("k", good)
    path = tmp_path / "features" / "k.npz"
    path.write_bytes(path.read_bytes()[:100])
    assert features_cache.load("k") is None
    arrays = features_cache._encode(good)
    arrays["o:input_ids"] = arrays["o:input_ids"][:-1]  # offsets of fewer features than n
    np.savez(path, **arrays)
    assert features_cache.load("k") is None


def test_columns_fingerprint_is_a_content_hash():
    from harness.features_cache import columns_fingerprint as fp

    base = {"text_a": ["ab", "c"], "label": ["x", "y"], "answers": [{"text": ["a"]}, {"text": []}]}
    assert fp(base) == fp(dict(reversed(base.items())))
    changed = [{**base, "text_a": ["ab", "d"]}, {**base, "text_a": ["a", "bc"]}, {**base, "text_a": ["abc"]},
               {**base, "answers": [{"text": ["b"]}, {"text": []}]}, {**base, "label": ["x", 1]},
               {"text_b": ["ab", "c"], "label": ["x", "y"], "answers": base["answers"]},
               {**base, "text_a": ["ab", "c\ud800"]}]
    digests = {fp(c) for c in changed}
    assert len(digests) == len(changed) and fp(base) not in digests


def test_bad_sampler_settings_exit_2(offline_world, tmp_path, xstilts):
    cases = {
        "temperature: 0": "    sampler: {name: temperature, temperature: 0}\n",
        "not one of this arm's tasks": "    sampler: {name: proportional, weights: {squad: 2.0}}\n",
    }
    for message, sampler in cases.items():
        body = ("name: bad\narms:\n  - name: multi\n    tasks: [mnli, hellaswag]\n" + sampler +
                "targets: [xnli]\n")
        exp = write_experiment(tmp_path / "bad.yaml", offline_world, body)
        code, _, err = xstilts("validate", exp)
        assert code == 2 and "Traceback" not in err, err
        assert message.split(":")[0] in err or "temperature" in err, err


def test_empty_task_is_a_user_error_and_sampler_settings_are_validated_by_the_config():
    from pydantic import ValidationError

    from harness.experiment import ArmConfig, SamplerConfig
    from harness.train import TrainTask, schedule

    kind = get_kind("classification")
    with pytest.raises(UserError, match="no training examples"):
        schedule([TrainTask("a", kind, [])], Hparams(max_steps=2), {"name": "uniform"}, 0)
    for sampler, message in (({"name": "temperature", "temperature": -1}, "temperature"),
                             ({"name": "capped"}, "'capped' needs cap"), ({"cap": 0}, "cap"),
                             ({"name": "mixed"}, "name")):
        with pytest.raises(ValidationError, match=message):
            SamplerConfig.model_validate(sampler)
    with pytest.raises(ValidationError, match="not one of this arm"):
        ArmConfig(name="x", tasks=["a"], sampler={"name": "uniform", "weights": {"b": 1}})
