"""XQuAD: SQuAD v1.1 dev paragraphs professionally translated into 10 languages (test only).

Also defines the SQuAD v1.1 English training source shared by the XTREME span-QA tasks. It is read from
google/xtreme's `SQuAD` config rather than rajpurkar/squad: the same repository and revision pin as the
evaluation data, the same columns as `XQuAD.*`/`MLQA.*`, and the same 87,599 / 10,570 examples.
"""

from harness.spec import HFSource, Submission, TaskSpec

LANGUAGES = ("en", "es", "de", "el", "ru", "tr", "ar", "vi", "th", "zh", "hi")
QA_FIELDS = {"id": "id", "context": "context", "question": "question", "answers": "answers"}
QA_HPARAMS = {"epochs": 2, "batch_size": 16, "max_seq_length": 384, "doc_stride": 128}
QA_SETTINGS = {"max_answer_length": 30, "n_best": 20}

SQUAD_TRAIN = HFSource(
    repo="google/xtreme", config="SQuAD", split="train", fields=QA_FIELDS, expected_rows={"en": 87599}
)
SQUAD_DEV = HFSource(
    repo="google/xtreme", config="SQuAD", split="validation", fields=QA_FIELDS, expected_rows={"en": 10570},
    languages=("en",),
)
"""English SQuAD v1.1 dev: the dev set of XQuAD (evaluated once, in English; XQuAD itself is test only)."""

TASK = TaskSpec(
    name="xquad",
    kind="span_qa",
    description="XQuAD cross-lingual extractive QA (train: SQuAD v1.1; SQuAD v1.1 EM/F1)",
    metric="squad",
    score_metrics=("exact_match", "f1"),
    languages=LANGUAGES,
    train=SQUAD_TRAIN,
    dev=SQUAD_DEV,
    test=HFSource(
        repo="google/xtreme",
        config="XQuAD.{lang}",
        split="validation",
        fields=QA_FIELDS,
        expected_rows={lang: 1190 for lang in LANGUAGES},
    ),
    suites=("xtreme", "xtreme_r"),
    submission=Submission(folder="xquad", ext="json"),
    hparams=QA_HPARAMS,
    settings=QA_SETTINGS,
    license="CC BY-SA 4.0",
    citation="Artetxe et al. On the Cross-lingual Transferability of Monolingual Representations. ACL 2020.",
    homepage="https://github.com/deepmind/xquad",
)
