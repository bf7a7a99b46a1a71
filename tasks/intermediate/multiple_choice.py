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
