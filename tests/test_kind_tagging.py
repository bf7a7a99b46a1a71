"""Tagging kind: first sub-word labels, windows instead of truncation, decoding back to one tag per word."""

from __future__ import annotations

import numpy as np
import pytest

from harness import registry
from harness.data.load import load_split
from harness.data.settings import DataSettings
from harness.hparams import Hparams
from harness.kinds import get_kind
from harness.kinds.tagging import IGNORE, windows, word_pieces
from harness.metrics import metric


@pytest.fixture(scope="module")
def tokenizer(offline_world):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(offline_world["model"]))


@pytest.fixture(scope="module")
def panx_zh(offline_world):
    columns, _ = load_split(registry.task("panx"), "test", "zh", DataSettings(snapshot_root=str(offline_world["hub"])))
    return columns


def _oracle(features):
    """Outputs that predict exactly the feature's labels (0 where ignored)."""
    return [np.maximum(np.asarray(f["labels"]), 0) for f in features]


def test_fixture_schema_is_the_hub_one(offline_world):
    from datasets import load_dataset

    ds = load_dataset(str(offline_world["hub"] / "google" / "xtreme"), "PAN-X.ar", split="validation")
    assert ds.column_names == ["tokens", "ner_tags", "langs"]
    assert ds.features["ner_tags"].feature.names == list(registry.task("panx").labels)
    pos = load_dataset(str(offline_world["hub"] / "google" / "xtreme"), "udpos.Thai", split="test")
    assert pos.features["pos_tags"].feature.names == list(registry.task("udpos").labels)


def test_first_subword_labels_and_windows_keep_every_word(tokenizer, panx_zh):
    spec, kind = registry.task("panx"), get_kind("tagging")
    hp = Hparams(max_seq_length=16)
    features = kind.featurize(panx_zh, tokenizer, spec, hp)
    index = {t: k for k, t in enumerate(spec.labels)}
    covered = {i: [] for i in range(len(panx_zh["tokens"]))}
    for f in features:
        assert len(f["input_ids"]) <= hp.max_seq_length
        labels = np.asarray(f["labels"])
        starts = f["word_starts"]
        words = range(f["word_offset"], f["word_offset"] + len(starts))
        assert labels[starts].tolist() == [index[panx_zh["tags"][f["example"]][w]] for w in words]
        rest = np.delete(labels, starts)
        assert (rest == IGNORE).all() and labels[0] == IGNORE and labels[-1] == IGNORE
        covered[f["example"]] += list(words)
    assert all(covered[i] == list(range(len(t))) for i, t in enumerate(panx_zh["tokens"]))
    assert len(features) > len(panx_zh["tokens"])  # long sentences were split, not truncated
    decoded = kind.decode(_oracle(features), features, panx_zh, spec)
    assert decoded == kind.gold(panx_zh, spec)
    assert metric(spec.metric)(kind.gold(panx_zh, spec), decoded, "zh")["f1"] == 100.0


def test_word_without_subwords_is_still_tagged(tokenizer):
    spec, kind = registry.task("panx"), get_kind("tagging")
    columns = {"tokens": [["zorp", "", "quill", "blin"]], "tags": [["B-PER", "I-PER", "O", "B-LOC"]]}
    assert tokenizer([""], add_special_tokens=False)["input_ids"] == [[]]
    features = kind.featurize(columns, tokenizer, spec, Hparams(max_seq_length=64))
    (f,) = features
    assert len(f["word_starts"]) == 4
    assert f["input_ids"][f["word_starts"][1]] == tokenizer.unk_token_id
    assert kind.decode(_oracle(features), features, columns, spec) == columns["tags"]


def test_word_pieces_and_windows_units():
    ids, lengths = word_pieces([0, 0, 0, 2, None], [7, 8, 9, 5, 2], 3, unk_id=3, cap=2)
    assert ids.tolist() == [7, 8, 3, 5] and lengths.tolist() == [2, 1, 1]
    assert windows(np.array([2, 1, 1, 3]), 3) == [(0, 2), (2, 3), (3, 4)]
    assert windows(np.array([5]), 3) == [(0, 1)]


def test_predictions_layout_round_trips(tmp_path):
    kind = get_kind("tagging")
    predictions = [["B-PER", "O"], ["O"], ["B-LOC", "I-LOC", "O"]]
    kind.write_predictions(tmp_path / "test-en.tsv", predictions)
    assert (tmp_path / "test-en.tsv").read_text() == "B-PER\nO\n\nO\n\nB-LOC\nI-LOC\nO\n\n"
    read = kind.read_submission(tmp_path / "test-en.tsv", registry.task("panx"))
    assert read.items == predictions and read.lines == [1, 4, 6]
