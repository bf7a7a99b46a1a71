"""BUCC 2018 bitext mining (de fr ru zh against en): margin mining over whole comparable corpora.

Two tasks, never mixed in results:
- `bucc2018`: the real task, from the BUCC 2018 release files given by --data-dir / data.data_dirs.bucc2018
  (`{src}-en.{split}.{src}`, `{src}-en.{split}.en`, `{src}-en.{split}.gold`, lines `id<TAB>sentence`);
  dev = the "sample" split, test = the "training" split (the real test gold is not public). Its F1 is
  comparable to published BUCC F1.
- `bucc2018_gold`: HF google/xtreme `bucc18.{lang}`, which holds only the gold pairs. Mining among gold
  sentences only is far easier than the real task: its F1 is NOT comparable to published BUCC F1, so it
  has its own name, submission folder and no place in the XTREME suite.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import UserError
from harness.spec import HFSource, LocalSource, Submission, TaskSpec
from tasks.xtreme.rawfiles import find, read_tsv2

LANGUAGES = ("de", "fr", "ru", "zh")
LAYOUT = "{src}-en.{split}.{src}, {src}-en.{split}.en, {src}-en.{split}.gold (lines id<TAB>sentence)"
SETTINGS = {"method": "mine", "pooling": "mean", "k": 4, "margin": "ratio", "mode": "max"}
CITATION = ("Zweigenbaum et al. Overview of the Third BUCC Shared Task: Spotting Parallel Sentences in "
            "Comparable Corpora. BUCC 2018.")


XTREME_NAMES = {"sample": "dev", "training": "test"}
"""XTREME's download script flattens the release and renames sample -> dev, training -> test."""


def _stem(data_dir: Path, lang: str, split: str, sub: tuple[str, ...]) -> str:
    """The file stem present in data_dir: the release's `{lang}-en.{split}` or XTREME's renamed one."""
    renamed = f"{lang}-en.{XTREME_NAMES.get(split, split)}"
    for folder in (data_dir, *(data_dir / s for s in sub)):
        if not (folder / f"{lang}-en.{split}.{lang}").is_file() and (folder / f"{renamed}.{lang}").is_file():
            return renamed
    return f"{lang}-en.{split}"


def read_release(data_dir: Path, lang: str, split: str) -> dict[str, list]:
    """Both sentence pools and the gold pairs of `{lang}-en.{split}.*` (in data_dir or data_dir/{lang}-en).

    XTREME's renamed layout (`{lang}-en.dev.*` for sample, `{lang}-en.test.*` for training) is read too.
    """
    sub = (f"{lang}-en", f"bucc2018/{lang}-en")
    stem = _stem(data_dir, lang, split, sub)
    src_path, trg_path, gold_path = (find(data_dir, f"{stem}.{ext}", sub) for ext in (lang, "en", "gold"))
    src_id, src_text = read_tsv2(src_path, "id<TAB>sentence")
    trg_id, trg_text = read_tsv2(trg_path, "id<TAB>sentence")
    gold_src, gold_trg = read_tsv2(gold_path, "src_id<TAB>trg_id")
    known_src, known_trg = set(src_id), set(trg_id)
    for path, ids in ((src_path, src_id), (trg_path, trg_id)):
        if len(set(ids)) != len(ids):
            raise UserError(f"{path}: repeated sentence ids; each line needs its own id")
    for number, (s, t) in enumerate(zip(gold_src, gold_trg, strict=True), start=1):
        if s not in known_src or t.strip() not in known_trg:
            raise UserError(f"{gold_path}:{number}: pair ({s}, {t.strip()}) names an id missing from "
                            f"{src_path.name} or {trg_path.name}; the files belong to different releases")
    return {"src_id": src_id, "src_text": src_text, "trg_id": trg_id, "trg_text": trg_text,
            "gold_src": gold_src, "gold_trg": [t.strip() for t in gold_trg]}


TASK = TaskSpec(
    name="bucc2018",
    kind="retrieval",
    description="BUCC 2018 bitext mining from the release files (margin mining, dev-tuned threshold; F1)",
    metric="bucc_f1",
    score_metrics=("f1",),
    languages=LANGUAGES,
    dev=LocalSource(reader="tasks.xtreme.bucc2018:read_release", split="sample", layout=LAYOUT),
    test=LocalSource(reader="tasks.xtreme.bucc2018:read_release", split="training", layout=LAYOUT),
    suites=("xtreme",),
    submission=Submission(folder="bucc2018"),
    settings=SETTINGS,
    hparams={"max_seq_length": 512},  # the recipe's retrieval length
    license="BUCC 2018 shared task data terms",
    citation=CITATION,
    homepage="https://comparable.limsi.fr/bucc2018/bucc2018-task.html",
    aliases=("bucc", "bucc18"),
)

_GOLD_FIELDS = {"src_text": "source_sentence", "trg_text": "target_sentence",
                "src_id": "source_lang", "trg_id": "target_lang"}
"""google/xtreme's loader stored the BUCC sentence ids in source_lang / target_lang."""

GOLD_TASK = TaskSpec(
    name="bucc2018_gold",
    kind="retrieval",
    description="BUCC 2018 gold pairs only (HF bucc18): NOT comparable to published BUCC F1",
    metric="bucc_f1",
    score_metrics=("f1",),
    languages=LANGUAGES,
    dev=HFSource(repo="google/xtreme", config="bucc18.{lang}", split="validation", fields=_GOLD_FIELDS),
    test=HFSource(repo="google/xtreme", config="bucc18.{lang}", split="test", fields=_GOLD_FIELDS),
    submission=Submission(folder="bucc2018_gold"),
    settings=SETTINGS,
    hparams={"max_seq_length": 512},  # the recipe's retrieval length
    license="BUCC 2018 shared task data terms",
    citation=CITATION,
    homepage="https://huggingface.co/datasets/google/xtreme",
)
