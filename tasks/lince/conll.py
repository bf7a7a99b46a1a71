"""Reader of LinCE's release files (ritual.uh.edu/lince): one folder per task, e.g. `ner_spaeng/`, holding
train.conll, dev.conll and test.conll.

A file is UTF-8 text, one token per line with tab-separated columns (token, language id, label), sentences
separated by blank lines. A sentence may open with a line `# sent_enum = N`; in sentence-level tasks (sentiment)
that line carries the sentence's label in its second column. Test files have no label column (LinCE withholds
test labels): their labels come back as None. The columns are those the hub path gives for the same rows.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.errors import UserError

META = re.compile(r"^# sent_enum = [0-9]+$")
FILES = {"train": "train", "dev": "dev", "validation": "dev", "test": "test"}
"""Split name -> file stem; "validation" (the hub's name) reads dev.conll."""
HUB_SPLITS = {"train": "train", "dev": "validation", "validation": "validation", "test": "test"}
"""Split name -> the hub's split name, used in row ids as the hub path does."""
LAYOUT = "{task}_{lang}/{train,dev,test}.conll (token<TAB>lid<TAB>label; '# sent_enum = N[<TAB>label]' lines)"


def read_conll(data_dir: Path, lang: str, split: str) -> dict[str, list]:
    """Canonical columns of `data_dir/{split}.conll`: tokens and tags for word-level tasks, or text_a and label
    for a sentence-level one (a folder named sa_*, or sentences whose `# sent_enum` line holds a label)."""
    if split not in FILES:
        raise UserError(f"LinCE has no split '{split}'; use one of {sorted(FILES)}")
    path = Path(data_dir) / f"{FILES[split]}.conll"
    if not path.is_file():
        raise UserError(f"{path}: missing; point data.data_dirs at the LinCE task folder ({LAYOUT})")
    sentences = _sentences(path)
    ids = [f"{lang}-{HUB_SPLITS[split]}-{i}" for i in range(len(sentences))]
    if Path(data_dir).name.startswith("sa_") or any(meta for meta, _ in sentences):
        return {"text_a": [" ".join(row[0] for row in rows) for _, rows in sentences],
                "label": [meta[0] if meta else None for meta, _ in sentences], "id": ids}
    return {"tokens": [[row[0] for row in rows] for _, rows in sentences],
            "tags": [[row[2] if len(row) > 2 else None for row in rows] for _, rows in sentences], "id": ids}


def _sentences(path: Path) -> list[tuple[list[str], list[list[str]]]]:
    """(sentence-level labels of the `# sent_enum` line, token rows) per sentence, in file order."""
    out: list[tuple[list[str], list[list[str]]]] = []
    meta: list[str] | None = None  # None until a `# sent_enum` line opens the sentence
    rows: list[list[str]] = []
    lines = path.read_text(encoding="utf-8").split("\n")
    for n, line in enumerate([*lines, ""], 1):
        fields = line.rstrip("\r").split("\t")
        if all(not f.strip() for f in fields):  # a blank line closes the sentence
            if meta is not None and not rows:
                raise UserError(f"{path}:{n}: a '# sent_enum' line without tokens; the file is not LinCE CoNLL")
            if rows:
                out.append((meta or [], rows))
            meta, rows = None, []
        elif not rows and meta is None and META.match(fields[0]):
            meta = [f for f in fields[1:] if f.strip()]
        elif len(fields) < 2:
            raise UserError(f"{path}:{n}: {len(fields)} column(s), expected token<TAB>lid[<TAB>label]")
        else:
            rows.append(fields)
    return out
