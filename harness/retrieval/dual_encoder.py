"""Dual-encoder pieces of the `ranked_retrieval` kind: pooling, the in-batch softmax loss, pool embedding.

One shared encoder embeds both sides (queries and candidates). A batch holds n (query, candidate) pairs;
the logits are `scale * cos(q_i, c_j)` for every query i and candidate j of the batch, and the loss is the
cross-entropy of each query against its own candidate, the other n - 1 candidates being its negatives
(in-batch negatives). Candidates shared by several pairs of a batch (same `groups` id) are not negatives
of each other's queries: those logits are masked out. Prediction embeds texts exactly as training pools
them (the last layer, "mean" or "cls"), through harness.retrieval.embed.

Imports torch at module level: only imported lazily from the kind's methods.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from harness.hparams import Hparams


class DualEncoderHead(nn.Module):
    """No parameters: the pooling ("mean" or "cls") and the logit scale the loss uses."""

    def __init__(self, pooling: str = "mean", scale: float = 20.0) -> None:
        super().__init__()
        self.pooling, self.scale = pooling, float(scale)

    def extra_repr(self) -> str:
        return f"pooling={self.pooling!r}, scale={self.scale}"


def pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention mask) of token-id lists padded to the longest."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids, mask


def pool_states(states: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """[n, hidden] sentence vectors in float32: the first token's state, or the attention-masked mean."""
    states = states.float()
    if pooling == "cls":
        return states[:, 0]
    weights = mask.unsqueeze(-1).to(states.dtype)
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)


def embed_batch(encoder: Any, ids: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pooled last-layer vectors of one padded batch (with gradients)."""
    states = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    return pool_states(states, mask, pooling)


def similarity_logits(encoder: Any, head: DualEncoderHead, batch: dict) -> torch.Tensor:
    """[n queries, n candidates] scaled cosine similarities of a collated pair batch."""
    q = embed_batch(encoder, batch["input_ids"], batch["attention_mask"], head.pooling)
    c = embed_batch(encoder, batch["candidate_input_ids"], batch["candidate_attention_mask"], head.pooling)
    q, c = nn.functional.normalize(q, dim=-1), nn.functional.normalize(c, dim=-1)
    return head.scale * q @ c.T


def in_batch_softmax_loss(logits: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy of query i against candidate i among the batch's candidates; where `groups`
    marks candidates that are the same item, the copies other than i are masked out of query i's softmax."""
    logits = logits.float()
    n = logits.shape[0]
    target = torch.arange(n, device=logits.device)
    if groups is not None:
        same = groups.view(-1, 1) == groups.view(1, -1)
        same &= ~torch.eye(n, dtype=torch.bool, device=logits.device)
        logits = logits.masked_fill(same, float("-inf"))
    return nn.functional.cross_entropy(logits, target)


def embed_texts(encoder: Any, tokenizer: Any, texts: list[str], settings: dict, hp: Hparams) -> np.ndarray:
    """float32 [n, hidden] vectors of `texts`, pooled from the last layer as training pools them."""
    from harness.retrieval.embed import embed_sentences

    return embed_sentences(encoder, tokenizer, texts, int(encoder.config.num_hidden_layers), settings["pooling"],
                           False, hp.eval_batch_size, hp.max_seq_length, dtype=settings.get("embed_dtype", "auto"))
