"""Token tagging (POS, NER): a label on the first sub-word of each word, the rest ignored.

Sentences longer than `max_seq_length` are split into several windows of whole words, so every word
gets a prediction; decoding stitches the windows back into one tag per word. A word the tokenizer
turns into no sub-word at all (e.g. a lone character its normaliser drops) is given the unknown token,
so it is still tagged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import UserError
from harness.hparams import Hparams
from harness.kinds.base import Kind, encode
from harness.kinds.submission import SubmissionFile, check_tags, read_tags
from harness.spec import TaskSpec

IGNORE = -100
"""Label of positions that take no part in the loss (later sub-words, specials, padding)."""


def word_pieces(word_ids: list[int | None], ids: list[int], n_words: int, unk_id: int,
                cap: int) -> tuple[np.ndarray, np.ndarray]:
    """(flat sub-word ids, sub-words per word) for one sentence.

    A word with no sub-word gets `unk_id`; a word with more than `cap` sub-words keeps its first `cap`.
    """
    wid = np.asarray([-1 if w is None else w for w in word_ids], dtype=np.int64)
    arr = np.asarray(ids, dtype=np.int64)
    keep = wid >= 0
    wid, arr = wid[keep], arr[keep]
    counts = np.bincount(wid, minlength=n_words) if len(wid) else np.zeros(n_words, dtype=np.int64)
    first = np.concatenate(([0], np.cumsum(counts)[:-1])) if n_words else np.zeros(0, dtype=np.int64)
    rank = np.arange(len(wid)) - first[wid]
    arr = arr[rank < cap]
    kept = np.minimum(counts, cap)
    empty = np.flatnonzero(kept == 0)
    if len(empty):
        at = np.concatenate(([0], np.cumsum(kept)))[empty]
        arr = np.insert(arr, at, unk_id)
        kept = np.maximum(kept, 1)
    return arr, kept


def special_frame(tokenizer: Any) -> tuple[list[int], list[int]]:
    """(prefix, suffix) special token ids the tokenizer adds around a single sequence."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    for at in range(len(full) - len(plain) + 1):
        if full[at:at + len(plain)] == plain:
            return full[:at], full[at + len(plain):]
    return [], []


def windows(lengths: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Greedy [start, end) word ranges whose sub-word counts sum to at most `budget` (each >= 1 word)."""
    ends = np.cumsum(lengths)
    spans, start, n = [], 0, len(lengths)
    while start < n:
        base = ends[start - 1] if start else 0
        end = max(start + 1, int(np.searchsorted(ends, base + budget, side="right")))
        spans.append((start, end))
        start = end
    return spans


class TaggingKind(Kind):
    name = "tagging"
    text_fields = ("tokens",)
    submission_ext = "tsv"

    def featurize(self, columns, tokenizer, task: TaskSpec, hp: Hparams, with_labels=True) -> list[dict]:
        """One feature per window: input_ids, labels (first sub-words), and where its words start."""
        sentences = [list(map(str, t)) for t in columns["tokens"]]
        index = {label: k for k, label in enumerate(task.labels)}
        prefix, suffix = special_frame(tokenizer)
        budget = hp.max_seq_length - len(prefix) - len(suffix)
        enc = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
        features: list[dict] = []
        for i, words in enumerate(sentences):
            ids, lengths = word_pieces(enc.word_ids(i), enc["input_ids"][i], len(words),
                                       tokenizer.unk_token_id, budget)
            starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
            tag_ids = self._tag_ids(columns["tags"][i], index, task, len(words)) if with_labels else None
            for a, b in windows(lengths, budget):
                lo = int(starts[a])
                hi = lo + int(lengths[a:b].sum())
                firsts = starts[a:b] - lo + len(prefix)
                feature = {"input_ids": prefix + ids[lo:hi].tolist() + suffix,
                           "example": i, "word_offset": a, "word_starts": firsts.tolist()}
                if tag_ids is not None:
                    labels = np.full(len(feature["input_ids"]), IGNORE, dtype=np.int64)
                    labels[firsts] = tag_ids[a:b]
                    feature["labels"] = labels.tolist()
                features.append(feature)
        return features

    @staticmethod
    def _tag_ids(tags: list, index: dict[str, int], task: TaskSpec, n_words: int) -> np.ndarray:
        if len(tags) != n_words:
            raise UserError(f"task '{task.name}': a sentence has {n_words} tokens but {len(tags)} tags; "
                            "the data is malformed")
        unknown = [t for t in tags if t not in index]
        if unknown:
            raise UserError(f"task '{task.name}': tag {unknown[0]!r} is not one of {list(task.labels)}; "
                            "the data does not match the task's tag set")
        return np.asarray([index[t] for t in tags], dtype=np.int64)

    def collate(self, features: list[dict], pad_id: int) -> dict:
        import torch

        batch = super().collate([{"input_ids": f["input_ids"]} for f in features], pad_id)
        if "labels" in features[0]:
            labels = torch.full(batch["input_ids"].shape, IGNORE, dtype=torch.long)
            for i, f in enumerate(features):
                labels[i, : len(f["labels"])] = torch.tensor(f["labels"])
            batch["labels"] = labels
        return batch

    def build_head(self, hidden_size: int, task: TaskSpec, hp: Hparams):
        from torch import nn

        return nn.Sequential(nn.Dropout(hp.head_dropout), nn.Linear(hidden_size, len(task.labels)))

    def forward(self, encoder, head, batch) -> Any:
        return head(encode(encoder, batch))

    def loss(self, logits, batch):
        import torch.nn.functional as F

        return F.cross_entropy(logits.float().flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE)

    def outputs_to_numpy(self, logits, batch) -> list[np.ndarray]:
        """The arg-max tag id of every real (unpadded) position of each row."""
        best = logits.argmax(-1).cpu().numpy()
        lengths = batch["attention_mask"].sum(-1).cpu().numpy()
        return [row[:n] for row, n in zip(best, lengths, strict=True)]

    def decode(self, outputs, features, columns, task: TaskSpec, settings=None) -> list[list[str]]:
        """One tag per word of every sentence, windows merged back in word order."""
        tags = [[""] * len(words) for words in columns["tokens"]]
        labels = np.asarray(task.labels, dtype=object)
        for out, f in zip(outputs, features, strict=True):
            chosen = labels[np.asarray(out)[f["word_starts"]]]
            row, offset = tags[f["example"]], f["word_offset"]
            row[offset:offset + len(chosen)] = chosen.tolist()
        return tags

    def gold(self, columns, task: TaskSpec, settings=None) -> list[list[str]] | None:
        tags = columns.get("tags")
        if tags is None or any(t is None for sentence in tags for t in sentence):
            return None
        return [list(sentence) for sentence in tags]

    def write_predictions(self, path: Path, predictions: list[list[str]]) -> None:
        """One tag per line, a blank line after each sentence (the XTREME submission layout)."""
        path.write_text("".join("".join(f"{t}\n" for t in s) + "\n" for s in predictions), encoding="utf-8")

    def read_submission(self, path: Path, task: TaskSpec) -> SubmissionFile:
        """Sentences of tags, each with its first line number."""
        return read_tags(path)

    def read_gold(self, path: Path, task: TaskSpec) -> SubmissionFile:
        return read_tags(path)

    def check_submission(self, task: TaskSpec, pred: SubmissionFile, gold: SubmissionFile) -> None:
        """One sentence per gold sentence, one tag per gold token, each one of the task's tags."""
        check_tags(pred, gold, task.labels)
