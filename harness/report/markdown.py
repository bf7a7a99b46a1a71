"""Markdown rendering of a leaderboard dict (see harness.report.leaderboard.build)."""

from __future__ import annotations

from typing import Any

NA = "n/a"
NOISE_MARK = "≈"


def fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return NA
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _stat(s: dict) -> str:
    text = fmt(s["score"])
    return text + (f" ± {s['std']:.1f}" if s["score"] is not None and s["std"] is not None else "")


def _delta(d: dict) -> str:
    return fmt(d["delta"], signed=True) + (f" {NOISE_MARK}" if d["within_noise"] else "")


def _primary_suite(board: dict) -> str | None:
    """The suite covering most of the experiment's tasks (its groups and score get columns)."""
    tasks = set(board["tasks"])
    suites = board["suites"]
    return max(suites, key=lambda n: len(tasks & set(suites[n]["tasks"])), default=None)


def _columns(board: dict) -> list[tuple[str, Any]]:
    """(header, getter(row-like) -> stat or delta record) for tasks, groups, suite score and average."""
    cols: list[tuple[str, Any]] = [(t, lambda r, t=t: r["tasks"][t]) for t in board["tasks"]]
    suite = _primary_suite(board)
    if suite:
        for g, members in board["suites"][suite]["groups"].items():
            if not set(members) & set(board["tasks"]):
                continue  # a group without any target of this grid is n/a in every row
            cols.append((f"{g}", lambda r, g=g: r["suites"][suite]["groups"][g]))
        cols.append((f"**{suite}**", lambda r: r["suites"][suite]["score"]))
    cols.append(("avg (grid)", lambda r: r["average"]))
    return cols


def _rows(board: dict) -> list[dict]:
    return board["arms"] + ([board["best_per_target"]] if board["best_per_target"] else [])


def _label(row: dict) -> str:
    return row.get("label") or row["arm"]


def render(board: dict[str, Any], heatmap: str | None = None) -> str:
    exp, cols = board["experiment"], _columns(board)
    head = "| arm | n | " + " | ".join(h for h, _ in cols) + " |"
    rule = "|---|---:|" + "---:|" * len(cols)
    lines = [
        f"# Leaderboard: {exp['name']}",
        "",
        f"Model `{exp['model']}`, seeds {exp['seeds']}, split `{board['split']}`. Scores in percent, mean ± std "
        f"over seeds (n = seeds with a result); n/a = not computed for every seed and language (strict: no "
        f"average over what happens to exist). Evaluations done: {board['progress']['evaluations_done']}/"
        f"{board['progress']['evaluations_planned']}.",
        "",
        head,
        rule,
    ]
    for row in _rows(board):
        n = min((row["tasks"][t]["n_seeds"] for t in board["tasks"]), default=0)
        lines.append(f"| {_label(row)} | {n} | " + " | ".join(_stat(get(row)) for _, get in cols) + " |")
    if board["best_per_target"]:
        best = board["best_per_target"]
        rules = best.get("selection_rules", {})
        chosen = ", ".join(f"{t}: {a or NA}" + (f" (by {rules[t]['by']} dev, a proxy: {t} has no dev split)"
                                                 if rules.get(t, {}).get("by") not in (None, t) else "")
                           for t, a in best["selected"].items())
        lines += ["", f"Best intermediate per target, selected on the dev split (never on test): {chosen}."]
    for base in board["baselines"]:
        lines += ["", f"## Δ against `{base}`", "", head.replace("| n |", "|"), rule.replace("|---:|", "|", 1)]
        for row in _rows(board):
            if base in row["deltas"]:
                d = row["deltas"][base]
                lookup = {"tasks": d["tasks"], "suites": d["suites"], "average": d["average"]}
                lines.append(f"| {_label(row)} | " + " | ".join(_delta(get(lookup)) for _, get in cols) + " |")
    lines += ["", f"{NOISE_MARK}: within noise ({board['noise']['method']}: {board['noise']['rule']}); "
              "no mark: outside noise, or not enough seeds to judge."]
    if heatmap:
        lines += ["", f"![intermediate x target deltas against none]({heatmap})"]
    lines += _references(board, cols)
    lines += _per_language(board)
    return "\n".join(lines) + "\n"


def _references(board: dict, cols: list) -> list[str]:
    if not board["references"]:
        return []
    tasks = list(board["tasks"])
    out = ["", "## Published references (not computed here; never part of the averages above)", "",
           "| model | split | " + " | ".join(tasks) + " | suite score |", "|---|---|" + "---:|" * (len(tasks) + 1)]
    suite = _primary_suite(board)
    for ref in board["references"]:
        cells = [fmt(ref["tasks"][t]["score"]) if ref["tasks"][t] else NA for t in tasks]
        score = fmt(ref["suites"][suite]["score"]) if suite and suite in ref["suites"] else NA
        out.append(f"| {ref['model']} | {ref['split']} | " + " | ".join(cells) + f" | {score} |")
    out += [""] + [f"- {ref['model']}: " + "; ".join(ref["sources"]) for ref in board["references"]]
    return out


def _per_language(board: dict) -> list[str]:
    out = ["", "## Per language"]
    for t, info in board["tasks"].items():
        langs = info["languages"]
        out += ["", f"<details><summary>{t} per language ({info['metric']}; score = {info['score']})</summary>",
                "", "| arm | " + " | ".join(langs) + " |", "|---|" + "---:|" * len(langs)]
        for row in _rows(board):
            per_lang = row["tasks"][t]["languages"]
            out.append(f"| {_label(row)} | " + " | ".join(_lang_cell(per_lang.get(lang), info) for lang in langs)
                       + " |")
        out += ["", "</details>"]
    return out


def _lang_cell(metrics: dict | None, info: dict) -> str:
    if not metrics:
        return NA
    values = [metrics.get(n) for n in info["score"].split("+")]
    if any(v is None for v in values):
        return NA
    return "/".join(f"{v:.1f}" for v in values)
