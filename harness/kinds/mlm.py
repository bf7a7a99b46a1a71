"""Masked language modelling: BERT-style dynamic masking and a (pretrained when available) LM head.

Columns: {"text": [sentences]}. A feature holds the token ids and which positions are special tokens;
`collate` pads and masks: each non-special token is selected with probability `mlm_probability`; a
selected token becomes <mask> 80% of the time, a random token 10%, and stays itself 10%. The loss is
the cross-entropy on selected positions only, and the head only runs on those positions.

Training batches draw their masks from a generator seeded by (seed, the batch's position in the schedule),
so a resumed run and any number of loader workers mask exactly as one uninterrupted run; other batches
(`collate`) draw from one generator seeded at construction.
"""

from __future__ import annotations

from typing import Any

from harness.hparams import Hparams
from harness.kinds.base import Kind, encode

IGNORE = -100
_NOT_EVALUATED = "MLM only trains (a baseline's auxiliary loss): it has no predictions or submission format"


def mask_tokens(ids: Any, special: Any, mask_id: int, vocab_size: int, probability: float,
                generator: Any) -> tuple[Any, Any]:
    """(inputs, labels) for a padded batch; `special` marks positions that are never masked (and padding)."""
    import torch

    labels = ids.clone()
    probs = torch.full(ids.shape, probability)
    probs.masked_fill_(special, 0.0)
    selected = torch.bernoulli(probs, generator=generator).bool()
    labels[~selected] = IGNORE
    inputs = ids.clone()
    to_mask = torch.bernoulli(torch.full(ids.shape, 0.8), generator=generator).bool() & selected
    inputs[to_mask] = mask_id
    to_random = torch.bernoulli(torch.full(ids.shape, 0.5), generator=generator).bool() & selected & ~to_mask
    inputs[to_random] = torch.randint(vocab_size, ids.shape, generator=generator)[to_random]
    return inputs, labels


def fresh_lm_head(hidden_size: int, embeddings: Any):
    """dense -> GELU -> LayerNorm -> decoder tied to the input embeddings (+ bias)."""
    from torch import nn

    class LMHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = nn.Linear(hidden_size, hidden_size)
            self.act = nn.GELU()
            self.layer_norm = nn.LayerNorm(hidden_size)
            self.decoder = nn.Linear(hidden_size, embeddings.weight.shape[0])
            self.decoder.weight = embeddings.weight

        def forward(self, hidden: Any) -> Any:
            return self.decoder(self.layer_norm(self.act(self.dense(hidden))))

    return LMHead()


def pretrained_lm_head(model_name: str, encoder: Any, trust_remote_code: bool = False) -> Any | None:
    """The pretrained LM head of `model_name`, re-tied to `encoder`'s input embeddings; None if it has none.

    Reused when the masked-LM model has exactly one module besides its encoder (XLM-R `lm_head`, BERT
    `cls`, ...); heads split over several modules get a fresh head instead.
    """
    from harness.errors import UserError
    from harness.model import load_encoder

    try:
        mlm, _ = load_encoder(model_name, trust_remote_code, with_lm_head=True)
    except (UserError, ValueError, KeyError):
        return None
    prefix = getattr(mlm, "base_model_prefix", "")
    others = [(name, module) for name, module in mlm.named_children() if name != prefix]
    if len(others) != 1:
        return None
    head = others[0][1]
    out = mlm.get_output_embeddings()
    if out is not None and out.weight.shape == encoder.get_input_embeddings().weight.shape:
        out.weight = encoder.get_input_embeddings().weight
    return head


class MLMKind(Kind):
    """Configured per tokenizer: the mask id, the vocabulary size and the masking probability."""

    name = "mlm"

    def __init__(self, mask_id: int = 0, vocab_size: int = 1, mlm_probability: float = 0.15, seed: int = 0):
        self.mask_id, self.vocab_size, self.mlm_probability = mask_id, vocab_size, mlm_probability
        self.seed = seed
        self._generator = None

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, mlm_probability: float = 0.15, seed: int = 0) -> MLMKind:
        if tokenizer.mask_token_id is None:
            from harness.errors import UserError

            raise UserError("the model's tokenizer has no mask token; masked-LM training needs one")
        return cls(tokenizer.mask_token_id, len(tokenizer), mlm_probability, seed)

    def generator(self):
        import torch

        if self._generator is None:
            self._generator = torch.Generator().manual_seed(self.seed)
        return self._generator

    def featurize(self, columns, tokenizer, task, hp: Hparams, with_labels=True) -> list[dict]:
        texts = [t for t in columns["text"] if t and t.strip()]
        enc = tokenizer(texts, truncation=True, max_length=hp.max_seq_length, return_special_tokens_mask=True)
        return [{"input_ids": ids, "special": sp, "example": i}
                for i, (ids, sp) in enumerate(zip(enc["input_ids"], enc["special_tokens_mask"], strict=True))]

    def collate_for_training(self, features: list[dict], pad_id: int, position: int) -> dict:
        import numpy as np
        import torch

        seed = int(np.random.SeedSequence([self.seed, position]).generate_state(1, dtype=np.uint64)[0])
        return self._collate(features, pad_id, torch.Generator().manual_seed(seed))

    def collate(self, features: list[dict], pad_id: int) -> dict:
        return self._collate(features, pad_id, self.generator())

    def _collate(self, features: list[dict], pad_id: int, generator: Any) -> dict:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), pad_id, dtype=torch.long)
        special = torch.ones((len(features), width), dtype=torch.bool)
        attention = torch.zeros((len(features), width), dtype=torch.long)
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            ids[i, :n] = torch.tensor(f["input_ids"])
            special[i, :n] = torch.tensor(f["special"], dtype=torch.bool)
            attention[i, :n] = 1
        inputs, labels = mask_tokens(ids, special, self.mask_id, self.vocab_size, self.mlm_probability, generator)
        return {"input_ids": inputs, "attention_mask": attention, "labels": labels}

    def build_head(self, hidden_size: int, task, hp: Hparams):
        raise NotImplementedError("MLM heads are built by fresh_lm_head or pretrained_lm_head")

    def forward(self, encoder, head, batch) -> Any:
        hidden = encode(encoder, batch)
        return head(hidden[batch["labels"] != IGNORE])

    def loss(self, logits, batch):
        import torch.nn.functional as F

        labels = batch["labels"][batch["labels"] != IGNORE]
        if labels.numel() == 0:
            return logits.sum() * 0.0
        return F.cross_entropy(logits.float(), labels)

    # ------------------------------------------------------------------ never evaluated, never submitted

    def decode(self, outputs, features, columns, task, settings=None) -> Any:
        raise NotImplementedError(_NOT_EVALUATED)

    def gold(self, columns, task, settings=None) -> Any:
        raise NotImplementedError(_NOT_EVALUATED)

    def write_predictions(self, path, predictions) -> None:
        raise NotImplementedError(_NOT_EVALUATED)

    def read_submission(self, path, task) -> Any:
        raise NotImplementedError(_NOT_EVALUATED)

    def read_gold(self, path, task) -> Any:
        raise NotImplementedError(_NOT_EVALUATED)

    def check_submission(self, task, pred, gold) -> None:
        raise NotImplementedError(_NOT_EVALUATED)
