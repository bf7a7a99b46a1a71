"""embed_sentences on a tiny randomly initialised XLM-R with a word-level tokenizer built here."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import UserError

torch = pytest.importorskip("torch")

TEXT = [
    "the cat sat on the mat",
    "a dog ran far away from home",
    "birds sing",
    "morning light falls on the quiet river bank today",
    "cat",
    "",
]


@pytest.fixture(scope="module")
def encoder():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaModel

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    tok.train_from_iterator(TEXT, trainers.WordLevelTrainer(special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=40,
        pad_token_id=1,
        hidden_dropout_prob=0.0,  # deterministic even in train mode, for the reference below
        attention_probs_dropout_prob=0.0,
    )
    torch.manual_seed(0)
    return XLMRobertaModel(config), tokenizer


def _one_by_one(model, tokenizer, text: str, layer: int, exclude_special: bool = False) -> np.ndarray:
    enc = tokenizer([text], return_tensors="pt", return_special_tokens_mask=True)
    special = enc.pop("special_tokens_mask")[0].bool()
    with torch.no_grad():
        states = model(**enc, output_hidden_states=True).hidden_states[layer][0]
    keep = ~special if exclude_special and (~special).any() else torch.ones_like(special)
    return states[keep].mean(dim=0).numpy()


def test_order_restored_and_matches_unbatched(encoder) -> None:
    model, tokenizer = encoder
    from harness.retrieval.embed import embed_sentences

    out = embed_sentences(model, tokenizer, TEXT, layer=1, batch_size=2)
    assert out.shape == (len(TEXT), 32) and out.dtype == np.float32
    for i, text in enumerate(TEXT):
        np.testing.assert_allclose(out[i], _one_by_one(model, tokenizer, text, 1), atol=1e-5)
    again = embed_sentences(model, tokenizer, TEXT[::-1], layer=1, batch_size=4)
    np.testing.assert_allclose(again[::-1], out, atol=1e-5)
    assert model.training  # restored after the call (a fresh model is in train mode)


def test_layers_pooling_and_special_tokens(encoder) -> None:
    model, tokenizer = encoder
    from harness.retrieval.embed import embed_sentences

    layers = [embed_sentences(model, tokenizer, TEXT, layer=i) for i in (0, 1, 2)]
    np.testing.assert_allclose(embed_sentences(model, tokenizer, TEXT, layer=-1), layers[2], atol=1e-6)
    assert not np.allclose(layers[0], layers[1]) and not np.allclose(layers[1], layers[2])
    ex = embed_sentences(model, tokenizer, TEXT, layer=2, exclude_special=True, batch_size=3)
    for i, text in enumerate(TEXT):
        np.testing.assert_allclose(ex[i], _one_by_one(model, tokenizer, text, 2, True), atol=1e-5)
    cls = embed_sentences(model, tokenizer, TEXT[:2], layer=2, pooling="cls")
    enc = tokenizer(TEXT[:1], return_tensors="pt")
    with torch.no_grad():
        first = model(**enc, output_hidden_states=True).hidden_states[2][0, 0].numpy()
    np.testing.assert_allclose(cls[0], first, atol=1e-5)


def test_embed_errors(encoder) -> None:
    model, tokenizer = encoder
    from harness.retrieval.embed import embed_sentences

    with pytest.raises(UserError, match="layer=3"):
        embed_sentences(model, tokenizer, TEXT, layer=3)
    with pytest.raises(UserError, match="pooling"):
        embed_sentences(model, tokenizer, TEXT, layer=1, pooling="max")
    assert embed_sentences(model, tokenizer, [], layer=1).shape == (0, 32)
