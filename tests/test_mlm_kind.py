"""MLM kind: masking statistics, special tokens, the pretrained LM head, the loss on masked positions."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from harness.kinds.mlm import IGNORE, MLMKind, mask_tokens, pretrained_lm_head  # noqa: E402


def test_masking_statistics_80_10_10_and_specials_never_masked():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(10, 1000, (400, 128))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    special[:, 100:] = True  # padding counts as special
    inputs, labels = mask_tokens(ids, special, mask_id=4, vocab_size=1000, probability=0.15, generator=g)
    selected = labels != IGNORE
    assert not selected[special].any()
    assert (inputs[special] == ids[special]).all()
    rate = selected.sum().item() / (~special).sum().item()
    assert rate == pytest.approx(0.15, abs=0.01)
    n = selected.sum().item()
    masked = (inputs[selected] == 4).sum().item() / n
    kept = (inputs[selected] == ids[selected]).sum().item() / n
    assert masked == pytest.approx(0.8, abs=0.02)
    assert kept == pytest.approx(0.1 + 0.1 / 1000, abs=0.02)  # unchanged, plus random hits of itself
    assert 1 - masked - kept == pytest.approx(0.1, abs=0.02)
    assert (labels[selected] == ids[selected]).all()
    assert (inputs[~selected] == ids[~selected]).all()


def test_pretrained_head_reused_and_tied(offline_world):
    from transformers import AutoModelForMaskedLM

    from harness.hparams import Hparams
    from harness.model import build_task_model, load_encoder

    encoder, tok = load_encoder(str(offline_world["model"]))
    head = pretrained_lm_head(str(offline_world["model"]), encoder)
    saved = AutoModelForMaskedLM.from_pretrained(str(offline_world["model"]))
    assert torch.equal(head.dense.weight, saved.lm_head.dense.weight)
    assert head.decoder.weight is encoder.get_input_embeddings().weight
    kind = MLMKind.for_tokenizer(tok, seed=1)
    feats = kind.featurize({"text": ["zorp quill vemmo trask blin"] * 8}, tok, None, Hparams(max_seq_length=16))
    assert all(f["special"][0] == 1 and f["special"][-1] == 1 for f in feats)
    batch = kind.collate(feats, tok.pad_token_id)
    model = build_task_model(encoder, {"mlm": head}, {"mlm": kind})
    logits = model("mlm", batch)
    n_masked = int((batch["labels"] != IGNORE).sum())
    assert logits.shape == (n_masked, len(tok))
    kind.loss(logits, batch).backward()
    assert encoder.get_input_embeddings().weight.grad is not None


def test_training_masks_depend_on_the_batch_position_only():
    """A resumed run (schedule started later) and loader workers see the masks of one uninterrupted run."""
    from harness.train import TrainTask, _batch_iter

    kind = MLMKind(mask_id=4, vocab_size=50, mlm_probability=0.3, seed=7)
    features = [{"input_ids": torch.randint(5, 50, (12,)).tolist(), "special": [1] + [0] * 10 + [1], "example": i}
                for i in range(24)]
    plan = [("mlm", list(range(q, q + 4))) for q in range(0, 24, 4)] * 2  # two epochs over the same batches
    tasks = {"mlm": TrainTask(name="mlm", kind=kind, features=features)}
    whole = [batch for _, batch in _batch_iter(plan, 0, tasks, pad_id=1, workers=0)]
    resumed = [batch for _, batch in _batch_iter(plan, 5, tasks, pad_id=1, workers=0)]
    loaded = [batch for _, batch in _batch_iter(plan, 0, tasks, pad_id=1, workers=2)]
    for got, want in [*zip(resumed, whole[5:], strict=True), *zip(loaded, whole, strict=True)]:
        assert torch.equal(got["input_ids"], want["input_ids"]) and torch.equal(got["labels"], want["labels"])
    assert not torch.equal(whole[0]["labels"], whole[6]["labels"])  # same rows, next epoch: fresh masks
