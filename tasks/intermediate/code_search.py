"""CodeXGLUE NL-code-search-Adv as English pair classification: does this docstring describe this code?

Data: google/code_x_glue_tc_nl_code_search_adv (config "default"; parquet on `main`, data/{split}-*.parquet,
since the loading script was converted): Python functions of CodeSearchNet, each with its docstring; 251,820
train / 9,604 validation / 19,210 test rows, validation and test with function and variable names replaced
(`Func`, `arg_0`, ...). Every row is a matching pair. Input: text_a = `docstring_tokens` joined with spaces,
text_b = `code_tokens` joined with spaces, as CodeXGLUE's own AdvTest baseline reads them; the `code` string is
not used because it still holds the docstring itself, which would give every positive away.

The `prepare` function `pairs` turns the rows into labelled pairs, on every split (dev = validation, drawn
the same way): row i gives "<id>+" (its docstring, its code, label "1") and negatives "<id>-<k>" (its
docstring with the code of another row, label "0"), never its own row, never a code text equal to its own nor
to that of any row with the same docstring (no true pair labelled "0"), the k negatives of a row all different.
Draws use `random.Random` seeded by (seed, split, language): one seed always gives the same pairs, another
seed others. Pairs keep the source row order (a row's positive, then its
negatives): the training loop shuffles with the stage's seed anyway, and dev predictions stay readable by row.

Task settings (TaskSpec.settings, overridden by an experiment's `task_settings: {code_search: {...}}`):
- `negatives_per_positive` (number >= 0, default 1): negatives per row. 0 keeps the positives only (one
  class); a fraction gives exactly round(fraction x rows) rows, a seeded sample, one negative more, e.g. 0.5:
  half the rows get one negative, 2.5: every row two and half of them three. A row whose split holds fewer
  code texts it may be paired with than asked gets as many as there are.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

from harness.errors import UserError, did_you_mean
from harness.spec import HFSource, TaskSpec

REPO = "google/code_x_glue_tc_nl_code_search_adv"
LABELS = ("0", "1")
"""mismatch, match: named "0"/"1" so the positive class of the F1 score is a match (as QQP)."""
FIELDS = {"id": "id", "text_a": "docstring_tokens", "text_b": "code_tokens"}
RATE = "negatives_per_positive"
SETTINGS = {RATE: 1}
# Verified from the dataset's dataset_info (the loading script's generated_definitions "sizes", and the
# TFDS community catalog built from the same card): train 251820, validation 9604, test 19210.
ROWS = {"train": 251820, "validation": 9604, "test": 19210}


def join_tokens(columns: dict[str, list]) -> dict[str, list]:
    """text_a / text_b token lists -> one string each, tokens joined by single spaces."""
    return {**columns, "text_a": [" ".join(t) for t in columns["text_a"]],
            "text_b": [" ".join(t) for t in columns["text_b"]]}


def negatives_rate(settings: Mapping[str, Any]) -> float:
    """The validated `negatives_per_positive` setting (default 1); a UserError for a bad value or a misspelt key."""
    for key in settings:
        if key != RATE and "negative" in key:
            raise UserError(f"task_settings.code_search: unknown setting '{key}'{did_you_mean(key, [RATE])}; "
                            f"the negatives are set by {RATE}")
    rate = settings.get(RATE, SETTINGS[RATE])
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate) or rate < 0:
        raise UserError(f"task_settings.code_search.{RATE} must be a number >= 0 (e.g. 1, 3 or 0.5), got "
                        f"{rate!r}; fix it in the experiment's task_settings")
    return float(rate)


def pairs(columns: dict[str, list], *, split: str, lang: str, seed: int,
          settings: Mapping[str, Any]) -> dict[str, list]:
    """Labelled (docstring, code) pairs from matching rows: each row's positive, then its seeded negatives."""
    rate = negatives_rate(settings)
    ids, docs, codes = columns["id"], columns["text_a"], columns["text_b"]
    n = len(ids)
    rng = random.Random(f"code_search/{seed}/{split}/{lang}")
    whole, share = int(rate), rate - int(rate)
    extra = set(rng.sample(range(n), round(share * n))) if share else set()
    distinct = len(set(codes))
    matched: dict[str, set[str]] = {}  # docstring -> the codes it is paired with in the data
    for doc, code in zip(docs, codes, strict=True):
        matched.setdefault(doc, set()).add(code)
    out: dict[str, list] = {"id": [], "text_a": [], "text_b": [], "label": []}

    def add(id_: str, doc: str, code: str, label: str) -> None:
        out["id"].append(id_)
        out["text_a"].append(doc)
        out["text_b"].append(code)
        out["label"].append(label)

    for i in range(n):
        add(f"{ids[i]}+", docs[i], codes[i], "1")
        own = matched[docs[i]]
        wanted = min(whole + (i in extra), distinct - len(own))  # as many as there are codes to draw
        taken: set[str] = set()
        while len(taken) < wanted:
            j = rng.randrange(n - 1)
            code = codes[j + (j >= i)]  # any row but i
            if code not in own and code not in taken:
                taken.add(code)
                add(f"{ids[i]}-{len(taken)}", docs[i], code, "0")
    return out


def _source(split: str) -> HFSource:
    return HFSource(repo=REPO, config="default", split=split, fields=FIELDS,
                    transform="tasks.intermediate.code_search:join_tokens", expected_rows={"en": ROWS[split]})


TASK = TaskSpec(
    name="code_search",
    kind="classification",
    description="CodeXGLUE NL-code-search-Adv: does an English docstring match a Python function (pairs)",
    metric="accuracy_f1",
    score_metrics=("accuracy", "f1"),
    labels=LABELS,
    train=_source("train"),
    dev=_source("validation"),
    test=_source("test"),
    role="intermediate",
    hparams={"epochs": 2, "max_seq_length": 256},
    settings=SETTINGS,
    check_settings="tasks.intermediate.code_search:negatives_rate",
    prepare="tasks.intermediate.code_search:pairs",
    license="C-UDA (Computational Use of Data Agreement); the code comes from CodeSearchNet's open-source "
    "repositories, under their own licenses",
    citation="Lu, Guo, Ren, Huang, Svyatkovskiy, Blanco, Clement, Drain, Jiang, Tang, Li, Zhou, Shou, Zhou, "
    "Tufano, Gong, Zhou, Duan, Sundaresan, Deng, Fu, Liu. CodeXGLUE: A Machine Learning Benchmark Dataset for Code "
    "Understanding and Generation. NeurIPS Datasets and Benchmarks 2021. Husain, Wu, Gazit, Allamanis, "
    "Brockschmidt. CodeSearchNet Challenge: Evaluating the State of Semantic Code Search. arXiv:1909.09436, 2019.",
    homepage="https://github.com/microsoft/CodeXGLUE/tree/main/Text-Code/NL-code-search-Adv",
    aliases=("codesearch",),
)
