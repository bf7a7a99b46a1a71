"""TyDiQA-GoldP: extractive QA in 9 languages; trained on the English GoldP train part only.

google/xtreme's `tydiqa` config mixes all languages; the language is the id prefix (e.g. "arabic-...").
XTREME's "test" is the GoldP dev set, i.e. the `validation` split filtered by that prefix. There is no
separate dev set: the English test part doubles as dev (as XTREME's scripts do).
"""

from harness.spec import HFSource, Submission, TaskSpec
from tasks.xtreme.xquad import QA_FIELDS, QA_HPARAMS, QA_SETTINGS

LANGUAGES = ("en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te")
LANG_NAMES = {
    "en": "english", "ar": "arabic", "bn": "bengali", "fi": "finnish", "id": "indonesian", "ko": "korean",
    "ru": "russian", "sw": "swahili", "te": "telugu",
}
TEST_ROWS = {
    "en": 440, "ar": 921, "bn": 113, "fi": 782, "id": 565, "ko": 276, "ru": 812, "sw": 499, "te": 669,
}

_GOLDP = HFSource(
    repo="google/xtreme",
    config="tydiqa",
    split="validation",
    fields=QA_FIELDS,
    where=(("id", "startswith", "{lang_name}-"),),
    lang_names=LANG_NAMES,
    expected_rows=TEST_ROWS,
)

TASK = TaskSpec(
    name="tydiqa",
    kind="span_qa",
    description="TyDiQA-GoldP extractive QA (train: English GoldP; SQuAD v1.1 EM/F1)",
    metric="squad",
    score_metrics=("exact_match", "f1"),
    languages=LANGUAGES,
    train=HFSource(
        repo="google/xtreme",
        config="tydiqa",
        split="train",
        fields=QA_FIELDS,
        where=(("id", "startswith", "english-"),),
        expected_rows={"en": 3696},
    ),
    dev=_GOLDP,
    test=_GOLDP,
    suites=("xtreme", "xtreme_r"),
    submission=Submission(folder="tydiqa", ext="json"),
    hparams=QA_HPARAMS,
    settings=QA_SETTINGS,
    license="Apache-2.0",
    citation="Clark et al. TyDi QA: A Benchmark for Information-Seeking Question Answering in Typologically "
    "Diverse Languages. TACL 2020.",
    homepage="https://github.com/google-research-datasets/tydiqa",
    aliases=("tydiqa-goldp",),
)
