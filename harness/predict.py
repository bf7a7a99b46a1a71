"""Batched inference of a trained head: length-sorted batches, outputs restored to feature order."""

from __future__ import annotations

from typing import Any

from harness.hparams import Hparams


def predict(model: Any, task_name: str, kind: Any, features: list[dict], hp: Hparams, pad_id: int) -> list:
    """One numpy output per feature (logits), computed without gradients."""
    import torch

    device = next(model.parameters()).device
    order = sorted(range(len(features)), key=lambda i: kind.length(features[i]))
    outputs: list[Any] = [None] * len(features)
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), hp.eval_batch_size):
            idx = order[start:start + hp.eval_batch_size]
            batch = kind.collate([features[i] for i in idx], pad_id)
            batch = {k: v.to(device) for k, v in batch.items()}
            logits = kind.forward(model.encoder, model.heads[task_name], batch)
            out = kind.outputs_to_numpy(logits, batch) if hasattr(kind, "outputs_to_numpy") else \
                logits.float().cpu().numpy()
            for i, o in zip(idx, out, strict=True):
                outputs[i] = o
    return outputs
