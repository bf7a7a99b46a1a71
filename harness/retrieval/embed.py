"""Sentence embeddings from one hidden layer of a Hugging Face encoder, for retrieval tasks.

Algorithm (XTREME `third_party/run_retrieval.py`, jiant's retrieval evaluation): tokenise with
truncation to `max_length`; run the encoder with `output_hidden_states=True`; take
`hidden_states[layer]` (0 = the embedding layer, L = the last of L transformer layers, negative values
count from the end as in Python); pool it:
- "mean": mean over the tokens the attention mask keeps (padding excluded); with `exclude_special`
  the special tokens (<s>, </s>, ...) are excluded too (a sentence with nothing else keeps them);
- "cls": the first token's vector.
Sentences are batched by descending token length (less padding) and returned in input order, as
float32 [n, hidden]. Which layer and pooling a result used are settings to record beside it.

Precision (`embedding_dtype`): "auto" runs the encoder under bfloat16 autocast on a CUDA GPU that
supports it and in float32 elsewhere; "float32" and "bfloat16" force one (bfloat16 autocast also runs on
CPU). Pooling is always computed in float32 on the hidden states cast to float32. The dtype used is a
setting to record too (the retrieval kind records it as `embed_dtype`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from harness import model as model_module
from harness.errors import UserError

Pooling = Literal["mean", "cls"]
EmbedDtype = Literal["auto", "float32", "bfloat16"]
EMBED_DTYPES = ("auto", "float32", "bfloat16")


def embedding_dtype(device: Any, requested: str = "auto") -> str:
    """The precision to embed in on `device`: "bfloat16" or "float32" ("auto": bfloat16 on a CUDA device
    that supports it). Raises UserError for an unknown choice."""
    if requested not in EMBED_DTYPES:
        raise UserError(f"embed_dtype: expected one of {', '.join(EMBED_DTYPES)}, got {requested!r}")
    if requested != "auto":
        return requested
    device_type = getattr(device, "type", str(device).split(":")[0])
    return "bfloat16" if device_type == "cuda" and model_module.cuda_bf16_supported() else "float32"


def _autocast(device: Any, dtype: str) -> Any:
    """bfloat16 autocast on `device` for dtype "bfloat16", else a context that changes nothing."""
    import contextlib

    import torch

    if dtype != "bfloat16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def embed_sentences(
    model: Any,
    tokenizer: Any,
    sentences: Sequence[str],
    layer: int,
    pooling: Pooling = "mean",
    exclude_special: bool = False,
    batch_size: int = 32,
    max_length: int = 512,
    device: Any = None,
    dtype: EmbedDtype = "auto",
) -> np.ndarray:
    """Embed `sentences` with `model` (an AutoModel encoder) and its `tokenizer`; float32 [n, hidden].

    `device`: where to run (default: where the model's parameters are). `dtype`: the forward's precision
    (see `embedding_dtype`). The model is put in eval mode for the call and restored afterwards.
    """
    import torch

    if pooling not in ("mean", "cls"):
        raise UserError(f"pooling: expected 'mean' or 'cls', got {pooling!r}")
    if dtype not in EMBED_DTYPES:
        raise UserError(f"embed_dtype: expected one of {', '.join(EMBED_DTYPES)}, got {dtype!r}")
    if batch_size < 1:
        raise UserError(f"batch_size: expected a positive integer, got {batch_size!r}")
    n_layers = int(model.config.num_hidden_layers)
    if not -(n_layers + 1) <= layer <= n_layers:
        raise UserError(
            f"layer={layer} is out of range for a model with {n_layers} layers; "
            f"use 0 (embeddings) to {n_layers}, or a negative index"
        )
    hidden = int(model.config.hidden_size)
    if len(sentences) == 0:
        return np.zeros((0, hidden), dtype=np.float32)
    encoded = tokenizer(
        list(sentences), truncation=True, max_length=max_length, return_special_tokens_mask=True
    )
    lengths = np.array([len(ids) for ids in encoded["input_ids"]])
    order = np.argsort(-lengths, kind="stable")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    precision = embedding_dtype(device, dtype)
    out = np.empty((len(sentences), hidden), dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), _autocast(device, precision):
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                features = [{key: encoded[key][i] for key in encoded} for i in rows.tolist()]
                batch = tokenizer.pad(features, return_tensors="pt")
                special = batch.pop("special_tokens_mask").to(device)
                inputs = {key: value.to(device) for key, value in batch.items()}
                states = model(**inputs, output_hidden_states=True).hidden_states[layer].float()
                out[rows] = _pool(states, inputs["attention_mask"], special, pooling, exclude_special)
    finally:
        model.train(was_training)
    return out


def _pool(states: Any, attention: Any, special: Any, pooling: str, exclude_special: bool) -> np.ndarray:
    if pooling == "cls":
        return states[:, 0].float().cpu().numpy()
    mask = attention.bool()
    if exclude_special:
        content = mask & ~special.bool()
        has_content = content.any(dim=1, keepdim=True)
        mask = content | (mask & ~has_content)
    weights = mask.unsqueeze(-1).to(states.dtype)
    summed = (states * weights).sum(dim=1)
    counts = weights.sum(dim=1).clamp(min=1)
    return (summed / counts).float().cpu().numpy()
