"""Tatoeba sentence retrieval (36 languages against English): top-1 cosine nearest neighbour, accuracy.

Direction (setting `direction`): "en-xx" (default, as XTREME: each English sentence queries the
non-English pool; prediction i = index of the retrieved non-English sentence) or "xx-en". Gold is the
row index: row i of each side is a translation pair. Tatoeba has one split, evaluated as "test"
(HF names it "validation"); there is no dev split, so the leaderboard's best-intermediate row selects
Tatoeba's arm by the BUCC dev F1 of the same encoder (`selection_proxy`).
Two tasks with the same data and numbers:
- `tatoeba`: HF google/xtreme `tatoeba.{iso3}` (validation split only; its sentences keep a trailing
  newline, stripped here). This one counts in the XTREME / XTREME-R suite scores.
- `tatoeba_laser`: LASER's raw files `tatoeba.{iso3}-eng.{iso3}` and `tatoeba.{iso3}-eng.eng` from
  --data-dir / data.data_dirs.tatoeba_laser, for offline mirrors.
XTREME-R's five extra languages (az lt pl uk ro) are not in google/xtreme and are not listed.
The encoder evaluated is the arm's intermediate one (the pretrained model for `none`); a target entry
`{task: tatoeba, encoder_from: squad}` evaluates a SQuAD-fine-tuned one instead, as XTREME-R does.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import UserError
from harness.spec import HFSource, LocalSource, Submission, TaskSpec
from tasks.xtreme.rawfiles import find, read_lines

LANGUAGES = ("ar", "he", "vi", "id", "jv", "tl", "eu", "ml", "ta", "te", "af", "nl", "de", "el", "bn", "hi",
             "mr", "ur", "fa", "fr", "it", "pt", "es", "bg", "ru", "ja", "ka", "ko", "th", "sw", "zh", "kk",
             "tr", "et", "fi", "hu")
ISO3 = {"ar": "ara", "he": "heb", "vi": "vie", "id": "ind", "jv": "jav", "tl": "tgl", "eu": "eus",
        "ml": "mal", "ta": "tam", "te": "tel", "af": "afr", "nl": "nld", "de": "deu", "el": "ell",
        "bn": "ben", "hi": "hin", "mr": "mar", "ur": "urd", "fa": "pes", "fr": "fra", "it": "ita",
        "pt": "por", "es": "spa", "bg": "bul", "ru": "rus", "ja": "jpn", "ka": "kat", "ko": "kor",
        "th": "tha", "sw": "swh", "zh": "cmn", "kk": "kaz", "tr": "tur", "et": "est", "fi": "fin",
        "hu": "hun"}
"""XTREME 2-letter code -> the 3-letter code of Tatoeba's files and HF configs."""
SETTINGS = {"method": "nearest", "pooling": "mean", "direction": "en-xx"}
LAYOUT = "tatoeba.{iso3}-eng.{iso3} and tatoeba.{iso3}-eng.eng (one sentence per line, aligned)"
CITATION = "Artetxe and Schwenk. Massively Multilingual Sentence Embeddings for Zero-Shot Cross-Lingual " \
           "Transfer and Beyond. TACL 2019."


def strip_newlines(columns: dict[str, list]) -> dict[str, list]:
    """Drop the trailing newline google/xtreme's loader left on every sentence."""
    return {k: [v.rstrip("\r\n") for v in vs] if k.endswith("_text") else vs for k, vs in columns.items()}


def read_laser(data_dir: Path, lang: str, split: str) -> dict[str, list]:
    """The aligned sentence files of one language (`split` is unused: Tatoeba has one split)."""
    iso3 = ISO3[lang]
    src_path = find(data_dir, f"tatoeba.{iso3}-eng.{iso3}", ("v1",))
    trg_path = find(data_dir, f"tatoeba.{iso3}-eng.eng", ("v1",))
    src, trg = read_lines(src_path), read_lines(trg_path)
    if len(src) != len(trg):
        raise UserError(f"{src_path}: {len(src)} lines but {trg_path.name} has {len(trg)}; the two files "
                        "must be line-aligned translations")
    return {"src_text": src, "trg_text": trg}


_HF = HFSource(repo="google/xtreme", config="tatoeba.{lang_name}", split="validation", lang_names=ISO3,
               fields={"src_text": "source_sentence", "trg_text": "target_sentence"},
               transform="tasks.xtreme.tatoeba:strip_newlines")
_COMMON = dict(
    kind="retrieval", metric="accuracy", score_metrics=("accuracy",), languages=LANGUAGES,
    suites=("xtreme", "xtreme_r"), submission=Submission(folder="tatoeba"), settings=SETTINGS,
    hparams={"max_seq_length": 512},  # the recipe's retrieval length
    selection_proxy=("bucc2018", "bucc2018_gold"),
    license="CC-BY 2.0 FR (Tatoeba)", citation=CITATION,
    homepage="https://github.com/facebookresearch/LASER/tree/main/data/tatoeba/v1",
)

TASK = TaskSpec(name="tatoeba", description="Tatoeba retrieval (HF google/xtreme; top-1 accuracy)",
                test=_HF, **_COMMON)

LASER_TASK = TaskSpec(
    name="tatoeba_laser", description="Tatoeba retrieval from LASER's raw files (--data-dir; top-1 accuracy)",
    test=LocalSource(reader="tasks.xtreme.tatoeba:read_laser", split="test", layout=LAYOUT),
    **{**_COMMON, "suites": ()},
)
