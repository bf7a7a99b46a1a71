"""Translated intermediate tasks: MNLI and SQuAD v1.1 machine-translated into many languages (issue #17, RQ2).

Each task holds English plus its translations and trains on all of them by default (kind setting
`train_languages: all`, mixed by the engine's language sampler); an arm narrows it with `task_settings`.
English stays the train language, so early stopping selects on the English dev set.

- `xnli_mt`: XNLI-MT, facebook/xnli's per-language train splits in XNLI's 15 languages (the `en` one is MNLI
  itself); dev is facebook/xnli's validation split.
- `squad_mt`: SQuAD v1.1 (rajpurkar/squad) plus MLQA's translate-train configs (facebook/mlqa
  `mlqa-translate-train.{lang}`, a loading-script repository read from its parquet conversion branch).
- `squad_mt_xtreme`: SQuAD v1.1 plus XTREME's translate-train files `squad.translate.train.en-{lang}.json`
  (SQuAD v1.1 JSON) from a local directory (`--data-dir` / `data.data_dirs.squad_mt_xtreme`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from harness.errors import UserError
from harness.spec import PARQUET_BRANCH, HFSource, LocalSource, TaskSpec
from tasks.intermediate import mnli, squad
from tasks.xtreme import mlqa, xnli, xquad

MULTILINGUAL = {"train_languages": "all"}
"""Default kind setting: train on every language the task holds."""

XNLI_MT_FIELDS = {"text_a": "premise", "text_b": "hypothesis", "label": "label"}
XNLI_ROWS = {"train": 392702, "validation": 2490}
"""Rows of facebook/xnli's splits, the same in every language."""


def _xnli(split: str) -> HFSource:
    return HFSource(repo="facebook/xnli", config="{lang}", split=split, fields=XNLI_MT_FIELDS,
                    label_names=mnli.NLI_LABELS, expected_rows=dict.fromkeys(xnli.LANGUAGES, XNLI_ROWS[split]))


XNLI_MT = TaskSpec(
    name="xnli_mt",
    kind="classification",
    description="XNLI-MT: MNLI and its machine translations into XNLI's 15 languages (facebook/xnli train)",
    metric="accuracy",
    score_metrics=("accuracy",),
    languages=xnli.LANGUAGES,
    labels=mnli.NLI_LABELS,
    train=_xnli("train"),
    dev=_xnli("validation"),
    role="intermediate",
    hparams=mnli.TASK.hparams,
    settings=dict(MULTILINGUAL),
    license="CC BY-NC 4.0",
    citation="Conneau et al. XNLI: Evaluating Cross-lingual Sentence Representations. EMNLP 2018.",
    homepage="https://github.com/facebookresearch/XNLI",
    aliases=("mnli_mt",),
)

MLQA_MT_LANGUAGES = tuple(lang for lang in mlqa.LANGUAGES if lang != "en")
"""Languages of facebook/mlqa's translate-train configs (SQuAD v1.1 train and dev machine-translated)."""
MLQA_MT_ROWS = {
    "train": {"ar": 78058, "de": 80069, "es": 81810, "hi": 82451, "vi": 84816, "zh": 76285},
    "validation": {"ar": 9512, "de": 9927, "es": 10123, "hi": 10253, "vi": 10356, "zh": 9568},
}
"""Rows of the translate-train configs (facebook/mlqa's dataset_info)."""
ENGLISH = ("en",)


def _english(source: HFSource) -> HFSource:
    return replace(source, languages=ENGLISH)


def _mlqa_mt(split: str) -> HFSource:
    return HFSource(repo="facebook/mlqa", config="mlqa-translate-train.{lang}", split=split,
                    revision=PARQUET_BRANCH, fields=squad.FIELDS, expected_rows=MLQA_MT_ROWS[split],
                    languages=MLQA_MT_LANGUAGES)


SQUAD_MT = TaskSpec(
    name="squad_mt",
    kind="span_qa",
    description="SQuAD v1.1 and MLQA's machine translations of it into ar de es hi vi zh (EM/F1)",
    metric="squad",
    score_metrics=("exact_match", "f1"),
    languages=mlqa.LANGUAGES,
    train=(_english(squad.TASK.train), _mlqa_mt("train")),
    dev=(_english(squad.TASK.dev), _mlqa_mt("validation")),
    role="intermediate",
    hparams=squad.HPARAMS,
    settings={**squad.TASK.settings, **MULTILINGUAL},
    license="CC BY-SA 3.0 (MLQA translations); CC BY-SA 4.0 (SQuAD)",
    citation="Lewis, Oguz, Rinott, Riedel, Schwenk. MLQA: Evaluating Cross-lingual Extractive Question "
    "Answering. ACL 2020. " + squad.CITATION,
    homepage="https://github.com/facebookresearch/MLQA",
)

XTREME_MT_LANGUAGES = tuple(lang for lang in xquad.LANGUAGES if lang != "en")
"""Languages XTREME ships translated SQuAD training files for: XQuAD's and MLQA's non-English ones (MLQA's are a
subset of XQuAD's)."""
XTREME_MT_FILE = "squad.translate.train.en-{lang}.json"


def read_xtreme_squad(data_dir: Path, lang: str, split: str) -> dict[str, list]:
    """XTREME's translated SQuAD training file of `lang` in `data_dir` as QA columns (`split` is always train)."""
    from baselines.translate_train import read_squad

    path = data_dir / XTREME_MT_FILE.format(lang=lang)
    if not path.is_file():
        raise UserError(f"squad_mt_xtreme: no translated SQuAD file for '{lang}' at {path}; put XTREME's "
                        f"translate-train files ({XTREME_MT_FILE}) there or fix data.data_dirs.squad_mt_xtreme")
    try:
        columns = read_squad(path)
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{path} is not SQuAD v1.1 JSON ({type(exc).__name__}: {exc}); re-download XTREME's "
                        "translate-train file") from None
    if not columns["id"]:
        raise UserError(f"{path} holds no questions; re-download XTREME's translate-train file")
    return columns


SQUAD_MT_XTREME = TaskSpec(
    name="squad_mt_xtreme",
    kind="span_qa",
    description="SQuAD v1.1 and XTREME's machine translations of it into XQuAD's 10 other languages (EM/F1)",
    metric="squad",
    score_metrics=("exact_match", "f1"),
    languages=xquad.LANGUAGES,
    train=(_english(squad.TASK.train),
           LocalSource(reader="tasks.intermediate.translated:read_xtreme_squad", split="train",
                       layout=XTREME_MT_FILE, languages=XTREME_MT_LANGUAGES)),
    dev=_english(squad.TASK.dev),
    role="intermediate",
    hparams=squad.HPARAMS,
    settings={**squad.TASK.settings, **MULTILINGUAL},
    license="CC BY-SA 4.0 (SQuAD; translations released with XTREME)",
    citation="Hu, Ruder, Siddhant, Neubig, Firat, Johnson. XTREME: A Massively Multilingual Multi-task Benchmark "
    "for Evaluating Cross-lingual Generalization. ICML 2020. " + squad.CITATION,
    homepage="https://github.com/google-research/xtreme",
)
