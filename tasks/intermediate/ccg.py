"""CCG supertagging from local CCGbank-derived files (CCGbank is licensed by the LDC: no public source).

Layout under the task's data directory (`--data-dir` / `data.data_dirs.ccg`):

    train.tsv, dev.tsv, test.tsv   one token<TAB>supertag per line, a blank line between sentences
                                   (lines starting with "#" are comments); UTF-8
    tags.txt                       optional: the supertag set, one per line, in label-id order; without it
                                   the set is the sorted supertags of train.tsv

A missing file is a UserError naming its path. The supertag set (about 1,363 in CCGbank sections 02-21)
comes from the data, so the spec's `labels` stay empty and the kind setting `labels_from` names the reader.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import UserError
from harness.spec import LocalSource, TaskSpec

LAYOUT = "{train,dev,test}.tsv: token<TAB>supertag per line, blank line between sentences; optional tags.txt"
READER = "tasks.intermediate.ccg:read"


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise UserError(f"CCG file not found: {path}; expected {LAYOUT} under the CCG data directory")
    return path.read_text(encoding="utf-8").splitlines()


def read(data_dir: Path, lang: str, split: str) -> dict[str, list]:
    """Canonical tagging columns {"id", "tokens", "tags"} of one split file."""
    path = Path(data_dir) / f"{split}.tsv"
    tokens: list[list[str]] = []
    tags: list[list[str]] = []
    words: list[str] = []
    labels: list[str] = []
    for n, line in enumerate([*_lines(path), ""], 1):
        if line.startswith("#"):
            continue
        if not line.strip():
            if words:
                tokens.append(words)
                tags.append(labels)
                words, labels = [], []
            continue
        cells = line.split("\t")
        if len(cells) != 2:
            raise UserError(f"{path}:{n}: expected token<TAB>supertag, got {len(cells)} field(s)")
        words.append(cells[0])
        labels.append(cells[1])
    return {"id": [f"{split}-{i}" for i in range(len(tokens))], "tokens": tokens, "tags": tags}


def labels(data_dir: Path) -> tuple[str, ...]:
    """The supertag set: tags.txt if present, else the sorted supertags of train.tsv."""
    listed = Path(data_dir) / "tags.txt"
    if listed.is_file():
        return tuple(t for t in (x.strip() for x in listed.read_text(encoding="utf-8").splitlines()) if t)
    return tuple(sorted({t for sent in read(data_dir, "en", "train")["tags"] for t in sent}))


TASK = TaskSpec(
    name="ccg",
    kind="tagging",
    description="CCG supertagging (CCGbank-derived local files; token accuracy)",
    metric="seqeval_2020",
    score_metrics=("token_accuracy",),
    train=LocalSource(reader=READER, split="train", layout=LAYOUT),
    dev=LocalSource(reader=READER, split="dev", layout=LAYOUT),
    test=LocalSource(reader=READER, split="test", layout=LAYOUT),
    role="intermediate",
    hparams={"epochs": 3, "max_seq_length": 256},
    settings={"labels_from": "tasks.intermediate.ccg:labels"},
    license="LDC User Agreement (CCGbank, LDC2005T13)",
    citation="Hockenmaier, Steedman. CCGbank: A Corpus of CCG Derivations and Dependency Structures "
    "Extracted from the Penn Treebank. Computational Linguistics 2007.",
    homepage="https://catalog.ldc.upenn.edu/LDC2005T13",
)
