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


def test_empty_task_and_unknown_sampler_are_user_errors():
    from harness.train import TrainTask, schedule

    kind = get_kind("classification")
    with pytest.raises(UserError, match="no training examples"):
        schedule([TrainTask("a", kind, [])], Hparams(max_steps=2), {"name": "uniform"}, 0)
    task = TrainTask("a", kind, [{"input_ids": [0, 2]}])
    with pytest.raises(UserError, match="temperature"):
        schedule([task], Hparams(max_steps=2), {"name": "temperature", "temperature": -1}, 0)
    with pytest.raises(UserError, match="not one of this arm"):
        schedule([task], Hparams(max_steps=2), {"name": "uniform", "weights": {"b": 1}}, 0)
