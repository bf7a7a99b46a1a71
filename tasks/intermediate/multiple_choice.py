"""Row transforms shared by the multiple-choice task specs (HFSource.transform hooks).

Canonical multiple-choice columns: context, question (optional), choices (list of strings), label (int
index, None when hidden).
"""

from __future__ import annotations


def index_label(columns: dict[str, list]) -> dict[str, list]:
    """A label held as a string ("2") or -1/"" for hidden test labels -> int index or None."""
    columns["label"] = [None if v in ("", None) or int(v) < 0 else int(v) for v in columns["label"]]
    return columns


def lettered_choices(columns: dict[str, list]) -> dict[str, list]:
    """choices = {"label": [letters], "text": [strings]} and label = a letter -> texts and an index."""
    structs = columns["choices"]
    columns["choices"] = [list(c["text"]) for c in structs]
    columns["label"] = [list(c["label"]).index(k) if k else None
                        for c, k in zip(structs, columns["label"], strict=True)]
    return columns


def numbered_label(columns: dict[str, list]) -> dict[str, list]:
    """A 1-based label string ("1".."3", Social IQa) -> a 0-based index; "" or None (hidden) -> None."""
    columns["label"] = [None if v in ("", None) else int(v) - 1 for v in columns["label"]]
    return columns


CHOICE_NAMES = {"choice1": 0, "choice2": 1}
"""SuperGLUE COPA's ClassLabel names (the loader turns ClassLabel ids into names) -> choice index."""


def copa_inputs(columns: dict[str, list]) -> dict[str, list]:
    """COPA-style rows (COPA, XCOPA) -> multiple-choice inputs, as XTREME-R's run_xcopa.py builds them: the
    question word ("cause" / "effect") becomes the English question "What was the cause?" / "What was the
    effect?" after the premise (the kind pairs "premise question" with each choice, in every language); the
    label, an index or a SuperGLUE name "choice1"/"choice2", becomes a 0-based index (-1, hidden, None)."""
    columns["question"] = [f"What was the {q}?" for q in columns["question"]]
    columns["label"] = [_choice(v) for v in columns["label"]]
    return columns


def _choice(value: object) -> int | None:
    if value in CHOICE_NAMES:
        return CHOICE_NAMES[value]
    return None if value in ("", None) or int(value) < 0 else int(value)
