"""SQuAD v1.1 and v2.0 (rajpurkar/squad, rajpurkar/squad_v2): English extractive span QA.

v2.0 adds unanswerable questions (empty `answers.text`); the span-QA kind predicts "no answer" when the
null score wins (setting `version_2_with_negative`).
"""

from harness.spec import HFSource, TaskSpec

FIELDS = {"id": "id", "context": "context", "question": "question", "answers": "answers"}
HPARAMS = {"epochs": 2, "batch_size": 16, "max_seq_length": 384, "doc_stride": 128}
CITATION = ("Rajpurkar, Zhang, Lopyrev, Liang. SQuAD: 100,000+ Questions for Machine Comprehension of "
            "Text. EMNLP 2016.")


def _source(repo: str, split: str, rows: int) -> HFSource:
    return HFSource(repo=repo, config="plain_text", split=split, fields=FIELDS, expected_rows={"en": rows})


TASK = TaskSpec(
    name="squad",
    kind="span_qa",
    description="SQuAD v1.1, English extractive QA (EM/F1)",
    metric="squad",
    score_metrics=("exact_match", "f1"),
    train=_source("rajpurkar/squad", "train", 87599),
    dev=_source("rajpurkar/squad", "validation", 10570),
    role="intermediate",
    hparams=HPARAMS,
    settings={"max_answer_length": 30},
    license="CC BY-SA 4.0",
    citation=CITATION,
    homepage="https://rajpurkar.github.io/SQuAD-explorer/",
    aliases=("squad_v1", "squad1.1"),
)

V2 = TaskSpec(
    name="squad_v2",
    kind="span_qa",
    description="SQuAD v2.0, English extractive QA with unanswerable questions (EM/F1)",
    metric="squad_v2",
    score_metrics=("exact_match", "f1"),
    train=_source("rajpurkar/squad_v2", "train", 130319),
    dev=_source("rajpurkar/squad_v2", "validation", 11873),
    role="intermediate",
    hparams=HPARAMS,
    settings={"max_answer_length": 30, "version_2_with_negative": True},
    license="CC BY-SA 4.0",
    citation="Rajpurkar, Jia, Liang. Know What You Don't Know: Unanswerable Questions for SQuAD. ACL 2018.",
    homepage="https://rajpurkar.github.io/SQuAD-explorer/",
    aliases=("squad2",),
)
