"""AdversarialQA (UCLNLP/adversarial_qa): English extractive span QA written against models in the loop.

Bartolo et al. annotated SQuAD-style questions on SQuAD passages that a BiDAF, a BERT-Large or a
RoBERTa-Large model in the loop failed to answer: one config per model (`dbidaf`, `dbert`, `droberta`,
10,000 train / 1,000 validation each) and `adversarialQA`, the three combined. The hub repository is parquet
on `main` ({config}/{split}-*.parquet; converted from its former loading script), in SQuAD's schema (id,
title, context, question, answers{text, answer_start}) plus `metadata`; the test split's answers are
withheld, so the validation split is the dev split. Field mapping and span-QA settings are SQuAD v1.1's.
"""

from harness.spec import HFSource, TaskSpec
from tasks.intermediate.squad import FIELDS, HPARAMS

REPO = "UCLNLP/adversarial_qa"
CITATION = ("Bartolo, Roberts, Welbl, Riedel, Stenetorp. Beat the AI: Investigating Adversarial Human "
            "Annotation for Reading Comprehension. TACL 2020.")
# Verified against the repository's dataset_info (dbidaf: 10000 / 1000). The other configs' counts were
# seen only rounded (the viewer's "30k"/"3k" for adversarialQA, "12k" per model config in all), so they
# are left unchecked rather than guessed.
ROWS: dict[str, dict[str, int]] = {"dbidaf": {"train": 10000, "validation": 1000}}


def source(config: str, split: str) -> HFSource:
    """One split of one AdversarialQA config."""
    rows = ROWS.get(config, {}).get(split)
    return HFSource(repo=REPO, config=config, split=split, fields=FIELDS,
                    expected_rows={"en": rows} if rows else {})


def _task(name: str, config: str, description: str, aliases: tuple[str, ...] = ()) -> TaskSpec:
    return TaskSpec(
        name=name,
        kind="span_qa",
        description=description,
        metric="squad",
        score_metrics=("exact_match", "f1"),
        train=source(config, "train"),
        dev=source(config, "validation"),
        role="intermediate",
        hparams=HPARAMS,
        settings={"max_answer_length": 30},
        license="CC BY-SA 4.0",
        citation=CITATION,
        homepage="https://adversarialqa.github.io/",
        aliases=aliases,
    )


TASK = _task("adversarial_qa", "adversarialQA",
             "AdversarialQA, all three model-in-the-loop rounds combined, English extractive QA (EM/F1)",
             ("adversarialqa",))
DBIDAF = _task("adversarial_qa_dbidaf", "dbidaf",
               "AdversarialQA D(BiDAF): questions written against BiDAF, English extractive QA (EM/F1)")
DBERT = _task("adversarial_qa_dbert", "dbert",
              "AdversarialQA D(BERT): questions written against BERT-Large, English extractive QA (EM/F1)")
DROBERTA = _task("adversarial_qa_droberta", "droberta",
                 "AdversarialQA D(RoBERTa): questions written against RoBERTa-Large, English extractive QA (EM/F1)")
