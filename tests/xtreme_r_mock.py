"""Generated XTREME-R submission and gold folders (made-up ids and labels, no dataset text).

`write_mock(pred_root, gold_root)` writes, for every task folder evaluate.py reads under
`--xtreme_version xtreme-r` (and `lareqa` in our own format), `test-{lang}.{ext}` files with a seeded mix of
right and wrong predictions. The expected numbers in tests/test_xtreme_r_scoring.py were produced by running
google-research/xtreme's evaluate.py (commit 838c13b) on exactly these files in a scratch folder.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

LANGS = {
    "xnli": "ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh",
    "panx": "ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,"
            "my,zh,kk,tr,et,fi,hu,qu,pl,uk,az,lt,pa,gu,ro",
    "udpos": "af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh,"
             "lt,pl,uk,wo,ro",
    "tatoeba": "ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,"
               "et,fi,hu,az,lt,pl,uk,ro",
    "xcopa": "et,ht,id,it,qu,sw,ta,th,tr,vi,zh",
    "mewslix": "ar,de,en,es,fa,ja,pl,ro,ta,tr,uk",
    "xquad": "en,es,de,el,ru,tr,ar,vi,th,zh,hi,ro",
    "mlqa": "en,es,de,ar,hi,vi,zh",
    "tydiqa": "en,ar,bn,fi,id,ko,ru,sw,te",
    "lareqa": "ar,de,el,en,es,hi,ru,th,tr,vi,zh",
}
"""Submission folder -> languages (XTREME-R's, as evaluate.py's XTREME_R_TASK2LANGS; LAReQA: XQuAD-R's)."""

NLI = ("entailment", "neutral", "contradiction")
UPOS = ("NOUN", "VERB", "ADJ", "ADP", "DET", "PROPN", "PRON", "PUNCT")
NER = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
WORDS = ("alpha", "beta", "gamma", "delta", "omega", "kappa", "sigma")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _labels(rng: random.Random, labels: tuple[str, ...], n: int, keep: float) -> tuple[list[str], list[str]]:
    gold = [rng.choice(labels) for _ in range(n)]
    return gold, [g if rng.random() < keep else rng.choice(labels) for g in gold]


def _tags(rng: random.Random, tags: tuple[str, ...]) -> tuple[str, str]:
    gold_s, pred_s = [], []
    for _ in range(3):
        gold, pred = _labels(rng, tags, rng.randint(2, 6), 0.75)
        gold_s.append("\n".join(gold))
        pred_s.append("\n".join(pred))
    return "\n\n".join(gold_s) + "\n", "\n\n".join(pred_s) + "\n"


def _qa(rng: random.Random, lang: str) -> tuple[str, str]:
    qas, preds = [], {}
    for i in range(5):
        answer = " ".join(rng.sample(WORDS, rng.randint(1, 3)))
        qid = f"{lang}-q{i}"
        qas.append({"id": qid, "question": "q", "answers": [{"text": answer, "answer_start": 0}]})
        roll = rng.random()
        preds[qid] = answer if roll < 0.5 else (answer.split()[0] + " the" if roll < 0.8 else rng.choice(WORDS))
    gold = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "c", "qas": qas}]}]}
    return json.dumps(gold), json.dumps(preds)


def _ranking(rng: random.Random, lang: str, targets: int) -> tuple[str, str]:
    gold, pred = {}, {}
    for i in range(6):
        qid = f"{lang}-m{i}"
        pool = [f"Q{rng.randint(1, 60)}" for _ in range(30)]
        gold[qid] = sorted(set(rng.sample(pool, targets)))
        if i == 5:  # one query without predictions: scores 0
            continue
        pred[qid] = pool[: rng.choice((5, 20, 25))]
    return json.dumps(gold), json.dumps(pred)


def write_mock(pred_root: Path, gold_root: Path, seed: int = 7) -> None:
    """Every task folder of the mock XTREME-R submission, seeded."""
    rng = random.Random(seed)
    for folder, langs in LANGS.items():
        for lang in langs.split(","):
            if folder in ("xnli", "tatoeba"):
                labels = NLI if folder == "xnli" else tuple(str(i) for i in range(8))
                gold, pred = _labels(rng, labels, 8, 0.6)
                g, p, ext = "\n".join(gold) + "\n", "\n".join(pred) + "\n", "tsv"
            elif folder in ("udpos", "panx"):
                (g, p), ext = _tags(rng, UPOS if folder == "udpos" else NER), "tsv"
            elif folder == "xcopa":
                gold, pred = _labels(rng, ("0", "1"), 10, 0.6)
                g = "".join(json.dumps({"idx": i, "label": int(v)}) + "\n" for i, v in enumerate(gold))
                p = "".join(json.dumps({"idx": i, "label": int(v)}) + "\n" for i, v in enumerate(pred))
                ext = "jsonl"
            elif folder in ("xquad", "mlqa", "tydiqa"):
                (g, p), ext = _qa(rng, lang), "json"
            else:  # mewslix: one gold entity per mention; lareqa: several answer sentences
                (g, p), ext = _ranking(rng, lang, 1 if folder == "mewslix" else 3), "json"
            _write(gold_root / folder / f"test-{lang}.{ext}", g)
            _write(pred_root / folder / f"test-{lang}.{ext}", p)
