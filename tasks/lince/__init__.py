"""LinCE code-mixed targets (Spanish-English, Hindi-English), evaluated zero-shot after English training.

LinCE (lince-benchmark/lince, formerly `lince`) is a loading-script repository, read from the hub's parquet
conversion branch: one config per task (ner_spaeng, pos_hineng, sa_spaeng, ...), each with columns idx (int32),
words and lid (sequences of strings) and the task's labels, `ner`/`pos` (a string per word) or `sa` (one string).
LinCE withholds its test labels (the test rows carry empty labels), so a task's test split here is LinCE's
VALIDATION split, and the leaderboard prints that beside the results (`TaskSpec.note`). The language codes are
LinCE's own pair names, "spaeng" and "hineng". With `data.data_dirs.<task>` (or `--data-dir`) set to the
release's task folder (e.g. ner_spaeng/), the test split reads its dev.conll instead (tasks/lince/conll.py); the
rows are the same.
"""

from __future__ import annotations

from dataclasses import replace

from harness.spec import PARQUET_BRANCH, HFSource, LocalSource, Submission, TaskSpec

REPO = "lince-benchmark/lince"
HOMEPAGE = "https://ritual.uh.edu/lince"
LICENSE = "LinCE terms of use (per-dataset licences; see the homepage)"
LINCE_CITATION = ("Aguilar, Kar, Solorio. LinCE: A Centralized Benchmark for Linguistic Code-switching Evaluation. "
                  "LREC 2020.")
VALIDATION_ROWS = {"ner_spaeng": 10085, "ner_hineng": 314, "pos_spaeng": 4298, "pos_hineng": 160, "sa_spaeng": 1859}
"""Rows of each config's validation split (dataset_info of the repository's README; train/validation/test are
ner_spaeng 33611/10085/23527, ner_hineng 1243/314/522, pos_spaeng 27893/4298/10720, pos_hineng 1030/160/299,
sa_spaeng 12194/1859/4736)."""


AUGMENT_LANGUAGES = {"spaeng": ["es"], "hineng": ["hi"]}
"""The kind setting `augment_languages` of each pair: what an augmentation of the English training data
switches into (the pair's non-English side; LinCE's Hindi is mostly romanised, MUSE's en-hi is Devanagari)."""


def validation(config: str, lang: str, fields: dict[str, str], transform: str = "") -> HFSource:
    """LinCE's validation split of `config` (from the parquet branch), the only language being `lang`; with
    `data.data_dirs.<task>` set to the release's `{config}/` folder, its dev.conll instead."""
    local = LocalSource(reader="tasks.lince.conll:read_conll", split="validation", languages=(lang,),
                        layout=f"{config}/dev.conll of the LinCE release")
    return HFSource(repo=REPO, config=config, split="validation", revision=PARQUET_BRANCH, fields=fields,
                    transform=transform, languages=(lang,), expected_rows={lang: VALIDATION_ROWS[config]},
                    local=local)


def note(mapping: str) -> str:
    """The leaderboard line of a LinCE task: what its test column is, and the label mapping applied."""
    return f"test = LinCE validation split (LinCE withholds test labels); labels mapped: {mapping}"


def tagging_target(name: str, lang: str, english: TaskSpec, description: str, metric: str,
                   score_metrics: tuple[str, ...], tag_map: dict[str, str], default: str, mapping: str,
                   citation: str) -> TaskSpec:
    """A LinCE word-level target trained and selected on the English side of the XTREME task `english` (its
    label set, sources and recipe), tested on LinCE's validation split with `tag_map` into that label set."""
    return TaskSpec(
        name=name,
        kind="tagging",
        description=description,
        metric=metric,
        score_metrics=score_metrics,
        languages=(lang,),
        labels=english.labels,
        train=replace(english.train, languages=("en",)),
        dev=replace(english.dev, languages=("en",)),
        test=validation(name.removeprefix("lince_"), lang, {"tokens": "words", "tags": name.split("_")[1]}),
        submission=Submission(folder=name, ext="tsv"),
        hparams=dict(english.hparams),
        settings={"label_map": tag_map, "label_map_default": default, "augment_languages": AUGMENT_LANGUAGES[lang]},
        license=LICENSE,
        citation=f"{citation} {LINCE_CITATION}",
        homepage=HOMEPAGE,
        note=note(mapping),
    )
