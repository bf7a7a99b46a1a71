"""Mewsli-X (XTREME-R): entity linking as retrieval of Wikidata entities for news mentions, mAP@20.

Data: the layout XTREME's `scripts/download_data.sh` (`download_mewslix` + `utils_preprocess.py --task
mewslix`) leaves in `<data dir>/mewslix`, given by data.data_dirs.mewslix:
- `wikinews_mentions/{dev,test}-{lang}.jsonl`: one context per line, `{"context": {..., "language", "text"},
  "mentions": [{"example_id", "mention_span": {"start", "end", "text"}, "entity_id"}, ...]}` (test entity
  ids are blanked by the preprocessing);
- `wikinews_labels/{dev,test}-{lang}.json`: `{example_id: [entity_id]}`, the gold of the scorer;
- `candidate_set_entities.jsonl` (the entity pool) and `wikipedia_pairs-{train,dev}.jsonl` (English
  mention-entity training pairs of the dual encoder).
Submission: `mewslix/test-{lang}.json`, `{example_id: [entity ids, best first]}` (kind `ranked_retrieval`).
Model: a dual encoder trained on the English `wikipedia_pairs-train.jsonl` (mention in context -> entity
description), retrieving from `candidate_set_entities.jsonl`. Texts as XTREME's baseline prepares them:
a query is the mention's sentence with the mention marked `{ ... }`, the mention prepended
("Smith: ... { Smith } ..."); an entity is its description's sentences joined.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from harness.errors import UserError
from harness.spec import LocalSource, Submission, TaskSpec

LANGUAGES = ("ar", "de", "en", "es", "fa", "ja", "pl", "ro", "ta", "tr", "uk")
"""XTREME-R's Mewsli-X languages (evaluate.py's XTREME_R_TASK2LANGS, utils_mewslix.MENTION_LANGUAGES)."""
LAYOUT = "mewslix/wikinews_mentions/{split}-{lang}.jsonl and mewslix/wikinews_labels/{split}-{lang}.json " \
         "(XTREME's download_data.sh)"
TRAIN_LAYOUT = "mewslix/wikipedia_pairs-{split}.jsonl (XTREME's download_data.sh)"
ENTITIES = "candidate_set_entities.jsonl"
HPARAMS = {"max_seq_length": 64, "epochs": 1}
"""A sentence-long query and a description: 64 tokens; one epoch over the Wikipedia pairs."""
CITATION = "Ruder et al. XTREME-R: Towards More Challenging and Nuanced Multilingual Evaluation. EMNLP 2021. " \
           "Botha et al. Entity Linking in 100 Languages. EMNLP 2020."


def _folder(data_dir: Path) -> Path:
    """`data_dir/mewslix` when it exists, else `data_dir` itself (pointed straight at the task folder)."""
    return data_dir / "mewslix" if (data_dir / "mewslix").is_dir() else data_dir


def read_mentions(data_dir: Path, lang: str, split: str) -> dict[str, list]:
    """Columns query_id, context, mention_start, mention_end, mention, entity_id of one language's mentions;
    the entity id comes from the labels file (blank in the mentions file of the test split)."""
    folder = _folder(data_dir)
    mentions = folder / "wikinews_mentions" / f"{split}-{lang}.jsonl"
    labels_path = folder / "wikinews_labels" / f"{split}-{lang}.json"
    for path in (mentions, labels_path):
        if not path.is_file():
            raise UserError(f"{path}: missing; the data directory must hold {LAYOUT}")
    labels = json.loads(labels_path.read_text(encoding="utf-8"))
    columns: dict[str, list] = {k: [] for k in ("query_id", "context", "mention_start", "mention_end",
                                                "mention", "entity_id", "query", "targets")}
    for number, line in enumerate(mentions.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text = row["context"]["text"]
            for mention in row["mentions"]:
                span = mention["mention_span"]
                columns["query_id"].append(mention["example_id"])
                columns["context"].append(text)
                columns["mention_start"].append(span["start"])
                columns["mention_end"].append(span["end"])
                columns["mention"].append(span["text"])
                gold = (labels.get(mention["example_id"]) or [""])[0].strip()
                columns["entity_id"].append(gold)
                columns["targets"].append([gold] if gold else [])
                columns["query"].append(mention_query(text, row["context"].get("sentence_spans") or [],
                                                      span["start"], span["end"], span["text"]))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise UserError(f"{mentions}:{number}: not a Mewsli-X mentions row ({exc!r}); re-run XTREME's "
                            "download_data.sh preprocessing") from None
    ids, texts = read_entities(folder / ENTITIES)
    return {**columns, "cand_id": list(ids), "cand_text": list(texts)}


def _clean(text: str) -> str:
    """Newlines and runs of spaces as single spaces."""
    return " ".join(text.split())


def mention_query(text: str, sentences: list, start: int, end: int, mention: str) -> str:
    """The query string of a mention: its sentence (the whole text when no sentence span holds it) with the
    mention between `{ }` markers, the mention prepended so truncation never drops it."""
    lo, hi = 0, len(text)
    for span in sentences:
        if span["start"] <= start and end <= span["end"]:
            lo, hi = span["start"], span["end"]
            break
    return _clean(f"{mention}: {text[lo:start]} {{ {mention} }} {text[end:hi]}")


def entity_text(entity: dict) -> str:
    """An entity's description: its sentences joined (the whole description when none are marked)."""
    description = entity["description"]
    spans = entity.get("sentence_spans") or []
    if not spans:
        return _clean(description)
    return _clean(" ".join(description[s["start"]:s["end"]] for s in spans))


def _jsonl(path: Path, what: str):
    """(line number, object) of every non-empty line of `path`; a bad line is a UserError."""
    if not path.is_file():
        raise UserError(f"{path}: missing; the data directory must hold {what} (XTREME's download_data.sh)")
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{path}:{number}: not JSON ({exc}); re-download the Mewsli-X data") from None


@lru_cache(maxsize=2)
def read_entities(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(entity ids, description texts) of the candidate set, read once per process."""
    ids, texts = [], []
    for number, row in _jsonl(path, ENTITIES):
        try:
            ids.append(str(row["entity_id"]))
            texts.append(entity_text(row))
        except (KeyError, TypeError) as exc:
            raise UserError(f"{path}:{number}: not a Mewsli-X entity ({exc!r})") from None
    return tuple(ids), tuple(texts)


def read_pairs(data_dir: Path, lang: str, split: str) -> dict[str, list]:
    """The English training pairs `wikipedia_pairs-{split}.jsonl`: columns query (mention in context),
    candidate (entity description), candidate_id (entity id) and query_id."""
    path = _folder(data_dir) / f"wikipedia_pairs-{split}.jsonl"
    columns: dict[str, list] = {"query_id": [], "query": [], "candidate": [], "candidate_id": []}
    for number, row in _jsonl(path, TRAIN_LAYOUT):
        try:
            context, mention = row["contextual_mention"]["context"], row["contextual_mention"]["mention"]
            span = mention["mention_span"]
            columns["query_id"].append(str(mention["example_id"]))
            columns["query"].append(mention_query(context["text"], context.get("sentence_spans") or [],
                                                  span["start"], span["end"], span["text"]))
            columns["candidate"].append(entity_text(row["entity"]))
            columns["candidate_id"].append(str(row["entity"]["entity_id"]))
        except (KeyError, TypeError) as exc:
            raise UserError(f"{path}:{number}: not a Mewsli-X mention-entity pair ({exc!r})") from None
    return columns


TASK = TaskSpec(
    name="mewslix", kind="ranked_retrieval",
    description="Mewsli-X entity linking as retrieval (XTREME-R; mAP@20; dual encoder on wikipedia_pairs)",
    metric="mewslix_map20", score_metrics=("map@20",), languages=LANGUAGES,
    train=LocalSource(reader="tasks.xtreme_r.mewslix:read_pairs", split="train", layout=TRAIN_LAYOUT,
                      languages=("en",)),
    dev=LocalSource(reader="tasks.xtreme_r.mewslix:read_mentions", split="dev", layout=LAYOUT),
    test=LocalSource(reader="tasks.xtreme_r.mewslix:read_mentions", split="test", layout=LAYOUT),
    suites=("xtreme-r",), submission=Submission(folder="mewslix", ext="json"),
    hparams=HPARAMS,
    license="CC-BY 3.0 (WikiNews), CC-BY-SA 3.0 (Wikipedia)", citation=CITATION,
    homepage="https://github.com/google-research/google-research/tree/master/dense_representations_for_entity_retrieval/mel",
)
