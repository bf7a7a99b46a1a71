"""The ranked_retrieval kind's dual encoder: the in-batch softmax loss, the readers, and Mewsli-X and LAReQA
trained and evaluated end to end on the offline world (generated data, tiny model)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_HPARAMS, write_experiment

from harness import registry
from harness.errors import UserError
from harness.kinds import get_kind
from harness.metrics import metric


def test_in_batch_softmax_loss_by_hand():
    import torch

    from harness.retrieval.dual_encoder import in_batch_softmax_loss

    logits = torch.tensor([[2.0, 0.0], [1.0, 3.0]])
    # query 0: -log(e^2 / (e^2 + e^0)); query 1: -log(e^3 / (e^1 + e^3)); both log(1 + e^-2)
    expected = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-2))) / 2
    assert float(in_batch_softmax_loss(logits)) == pytest.approx(expected)
    uneven = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    expected = (-math.log(math.e / (math.e + math.e ** 2)) + math.log(2)) / 2
    assert float(in_batch_softmax_loss(uneven)) == pytest.approx(expected)
    # the two pairs share one candidate: neither is the other's negative, each query sees only its own
    assert float(in_batch_softmax_loss(uneven, torch.tensor([5, 5]))) == pytest.approx(0.0)


def test_logits_are_scaled_cosines_of_pooled_states():
    import torch

    from harness.retrieval.dual_encoder import DualEncoderHead, pool_states, similarity_logits

    states = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert pool_states(states, mask, "mean").tolist() == [[0.5, 0.5]]
    assert pool_states(states, mask, "cls").tolist() == [[1.0, 0.0]]

    class Encoder(torch.nn.Module):
        def forward(self, input_ids, attention_mask):  # one-hot "states" of the ids
            return type("Out", (), {"last_hidden_state": torch.nn.functional.one_hot(input_ids, 3).float()})

    batch = {"input_ids": torch.tensor([[0], [1]]), "attention_mask": torch.ones(2, 1, dtype=torch.long),
             "candidate_input_ids": torch.tensor([[0], [2]]), "candidate_attention_mask": torch.ones(2, 1)}
    logits = similarity_logits(Encoder(), DualEncoderHead("cls", 10.0), batch)
    assert logits.tolist() == [[10.0, 0.0], [0.0, 0.0]]


def test_features_keep_shared_candidates_in_one_group(offline_world):
    from transformers import AutoTokenizer

    from harness.hparams import Hparams

    kind, spec = get_kind("ranked_retrieval"), registry.task("mewslix")
    tokenizer = AutoTokenizer.from_pretrained(str(offline_world["model"]))
    columns = {"query": ["a b", "c", "d e f"], "candidate": ["x", "y", "x"], "candidate_id": ["Q1", "Q2", "Q1"]}
    features = kind.featurize(columns, tokenizer, spec, Hparams(max_seq_length=16))
    assert [f["group"] for f in features] == [0, 1, 0]
    batch = kind.collate(features, tokenizer.pad_token_id)
    assert batch["input_ids"].shape[0] == batch["candidate_input_ids"].shape[0] == 3
    assert batch["groups"].tolist() == [0, 1, 0]
    with pytest.raises(UserError, match="lacks \\['candidate'\\]"):
        kind.featurize({"query": ["a"]}, tokenizer, spec, Hparams())


def test_settings_are_checked():
    from harness.kinds.ranked_retrieval import resolve

    assert resolve("t", {})["top_k"] == 20
    with pytest.raises(UserError, match="setting pooling"):
        resolve("t", {"pooling": "max"})
    with pytest.raises(UserError, match="setting scale"):
        resolve("t", {"scale": 0})


def test_the_readers_give_queries_targets_and_pools(offline_world):
    from tasks.xtreme_r import lareqa, mewslix

    folder = offline_world["local"] / "mewslix"
    pairs = mewslix.read_pairs(folder, "en", "train")
    assert len(pairs["query"]) == len(pairs["candidate"]) == 48
    mention = pairs["query"][0].split(":")[0]
    assert f"{{ {mention} }}" in pairs["query"][0] and pairs["candidate"][0].startswith(mention)
    test = mewslix.read_mentions(folder, "ja", "test")
    assert all(len(t) == 1 and t[0] in test["cand_id"] for t in test["targets"])  # from the labels file
    assert len(test["cand_id"]) == 12
    assert mewslix.mention_query("A b. Cd ef. G.", [{"start": 0, "end": 4}, {"start": 5, "end": 11}], 5, 7,
                                 "Cd") == "Cd: { Cd } ef."
    rows = {"id": ["q1", "q2"], "question": ["who?", "what?"], "context": ["One x. Two y.", "One x. Two y."],
            "answers": [{"answer_start": [9], "text": ["o"]}, {"answer_start": [0], "text": ["One"]}]}
    pool = lareqa.pool_columns(rows)
    assert pool["targets"] == [["0-1"], ["0-0"]] and pool["cand_text"] == ["One x.", "Two y."]
    assert lareqa.squad_pairs(rows)["candidate"] == ["Two y.", "One x."]


def _run(tmp_path: Path, world: dict, xstilts, target: str) -> Path:
    body = (f"  data_dirs: {{mewslix: {world['local'] / 'mewslix'}}}\nname: {target}\nseeds: [1]\narms: [none]\n"
            f"targets:\n  - task: {target}\n    languages: [en, de, ja] \nsplits: [test]\n" + TINY_HPARAMS)
    if target == "lareqa":
        body = body.replace("[en, de, ja]", "[en, de, zh]")
    exp = write_experiment(tmp_path / "exp.yaml", world, body)
    code, _, err = xstilts("validate", exp)
    assert code == 0, err
    code, _, err = xstilts("run", exp, "-o", tmp_path / "runs")
    assert code == 0, err
    (target_dir,) = (tmp_path / "runs").glob(f"target-{target}-*")
    assert json.loads((target_dir / "metrics.json").read_text())["train"]["steps"] == 6
    (evaluate,) = (tmp_path / "runs").glob(f"evaluate-{target}-*")
    return evaluate


def _rescore(evaluate: Path, spec, lang: str, gold: dict) -> float:
    kind = get_kind(spec.kind)
    pred = kind.read_submission(evaluate / "predictions" / f"test-{lang}.json", spec)
    assert len(pred.items) == len(gold) and all(len(v) == min(20, len(v)) for v in pred.items.values())
    return metric(spec.metric)(gold, pred.items, lang)["map@20"]


def test_mewslix_trains_and_retrieves_end_to_end(offline_world, tmp_path, xstilts):
    from tasks.xtreme_r import mewslix

    evaluate = _run(tmp_path, offline_world, xstilts, "mewslix")
    result = json.loads((evaluate / "metrics.json").read_text())
    assert result["settings"]["pool"] == "columns" and result["settings"]["top_k"] == 20
    spec = registry.task("mewslix")
    for lang in ("en", "de", "ja"):
        score = result["splits"]["test"]["languages"][lang]["map@20"]
        labels = json.loads((offline_world["local"] / "mewslix" / "wikinews_labels" / f"test-{lang}.json").read_text())
        assert _rescore(evaluate, spec, lang, labels) == pytest.approx(score)
        pred = json.loads((evaluate / "predictions" / f"test-{lang}.json").read_text())
        assert set(pred) == set(labels) and all(len(ids) == 12 for ids in pred.values())  # the whole pool
    assert result["splits"]["test"]["score"] is not None
    assert set(mewslix.LANGUAGES) >= set(result["splits"]["test"]["languages"])


def test_lareqa_retrieves_from_the_multilingual_pool_end_to_end(offline_world, tmp_path, xstilts):
    evaluate = _run(tmp_path, offline_world, xstilts, "lareqa")
    result = json.loads((evaluate / "metrics.json").read_text())
    assert result["settings"]["pool"] == "all_languages"
    langs = result["splits"]["test"]["languages"]
    assert set(langs) == {"en", "de", "zh"} and all(0 <= m["map@20"] <= 100 for m in langs.values())
    pred = json.loads((evaluate / "predictions" / "test-de.json").read_text())
    assert len(pred) == 8 and all(len(ids) == 20 for ids in pred.values())
    found = {cand.split(":")[0] for ids in pred.values() for cand in ids}
    assert len(found) > 3  # candidates of languages outside the experiment's three: the pool is all 11
    # gold: each question's answer sentence in every language, as the kind scores it
    from harness.data.load import load_split
    from harness.data.settings import DataSettings

    spec, data = registry.task("lareqa"), DataSettings(snapshot_root=str(offline_world["hub"]))
    gold: dict[str, list[str]] = {}
    for lang in spec.languages:
        cols, _ = load_split(spec, "test", lang, data)
        for query, targets in zip(cols["query_id"], cols["targets"], strict=True):
            gold.setdefault(query, []).extend(f"{lang}:{t}" for t in targets)
    assert all(len(t) == 11 for t in gold.values())
    assert _rescore(evaluate, spec, "de", gold) == pytest.approx(langs["de"]["map@20"])


def test_fixtures_write_both_layouts(offline_world):
    assert (offline_world["local"] / "mewslix" / "candidate_set_entities.jsonl").is_file()
    assert (offline_world["local"] / "mewslix" / "wikipedia_pairs-train.jsonl").is_file()
    assert (offline_world["hub"] / "google-research-datasets" / "xquad_r" / "README.md").is_file()


@pytest.mark.parametrize("task", ["mewslix", "lareqa"])
def test_validation_accepts_the_dual_encoder_tasks_as_targets(tmp_path, task):
    path = tmp_path / "exp.yaml"
    path.write_text(f"name: t\nmodel: xlm-roberta-base\narms: [none]\ntargets: [{task}]\n", encoding="utf-8")
    xstilts = Path(sys.executable).parent / "xstilts"
    res = subprocess.run([str(xstilts), "validate", str(path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_a_capped_dev_subset_keeps_the_whole_candidate_pool() -> None:
    """Dev scoring during training reads `eval_examples` queries against the full pool, not its first rows."""
    from harness.kinds import get_kind
    from harness.stages import _cap

    columns = {"query_id": list("abcde"), "query": list("ABCDE"), "targets": [[]] * 5,
               "cand_id": [str(i) for i in range(9)], "cand_text": ["t"] * 9}
    capped = _cap(columns, 2, get_kind("ranked_retrieval").pool_columns)
    assert capped["query_id"] == ["a", "b"] and len(capped["targets"]) == 2
    assert capped["cand_id"] == columns["cand_id"] and len(capped["cand_text"]) == 9
    assert _cap(columns, None) is columns
