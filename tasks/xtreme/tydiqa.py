"""TyDiQA-GoldP: extractive QA in 9 languages; trained on the English GoldP train part only.

google/xtreme's `tydiqa` config mixes all languages; the language is the id prefix (e.g. "arabic-...").
XTREME's "test" is the GoldP dev set, i.e. the `validation` split filtered by that prefix. XTREME has no
dev set, and its test set must never steer early stopping or arm selection: the dev split here is a fixed
10% slice of the English GoldP training examples (chosen by a seeded hash of their ids, recorded in each
stage's provenance), and training uses the other 90%.
"""

from dataclasses import replace

from harness.spec import HFSource, Holdout, Submission, TaskSpec
from tasks.xtreme.xquad import QA_FIELDS, QA_HPARAMS, QA_SETTINGS

LANGUAGES = ("en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te")
LANG_NAMES = {
    "en": "english", "ar": "arabic", "bn": "bengali", "fi": "finnish", "id": "indonesian", "ko": "korean",
    "ru": "russian", "sw": "swahili", "te": "telugu",
}
TEST_ROWS = {
    "en": 440, "ar": 921, "bn": 113, "fi": 782, "id": 565, "ko": 276, "ru": 812, "sw": 499, "te": 669,
}



def _goldp(split: str, prefix: str, expected: dict[str, int]) -> HFSource:
    """Rows of the mixed `tydiqa` config whose id starts with `prefix` ({lang_name}: the row's language)."""
    return HFSource(repo="google/xtreme", config="tydiqa", split=split, fields=QA_FIELDS,
                    where=(("id", "startswith", prefix),), lang_names=LANG_NAMES, expected_rows=expected)


_GOLDP = _goldp("validation", "{lang_name}-", TEST_ROWS)

HOLDOUT_FRACTION = 0.1
HOLDOUT_SEED = 20200527
"""The held-out dev slice: 10% of the English training ids (about 370 of 3,696), seed fixed for good."""

_ENGLISH_TRAIN = _goldp("train", "english-", {"en": 3696})

TASK = TaskSpec(
    name="tydiqa",
    kind="span_qa",
    description="TyDiQA-GoldP extractive QA (train: English GoldP; SQuAD v1.1 EM/F1)",
    metric="squad",
    score_metrics=("exact_match", "f1"),
    languages=LANGUAGES,
    train=replace(_ENGLISH_TRAIN, holdout=Holdout(HOLDOUT_FRACTION, HOLDOUT_SEED, part="rest")),
    dev=replace(_ENGLISH_TRAIN, holdout=Holdout(HOLDOUT_FRACTION, HOLDOUT_SEED, part="slice"),
                languages=("en",)),
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
    version=2,  # 2: dev is a held-out slice of English train (was the test set), train the other 90%
)
