"""Markdown rendering of a leaderboard dict (see harness.report.leaderboard.build)."""

from __future__ import annotations

from typing import Any

NA = "n/a"


def fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return NA
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def render(board: dict[str, Any]) -> str:
    exp, tasks = board["experiment"], list(board["tasks"])
    lines = [
        f"# Leaderboard: {exp['name']}",
        "",
        f"Model `{exp['model']}`, seeds {exp['seeds']}, split `{board['split']}`. "
        f"Scores in percent; n/a = not (yet) computed for every seed and language. "
        f"Evaluations done: {board['progress']['evaluations_done']}/{board['progress']['evaluations_planned']}.",
        "",
        "| arm | " + " | ".join(tasks) + " | average | Δ avg vs none |",
        "|---|" + "---:|" * (len(tasks) + 2),
    ]
    for row in board["arms"]:
        deltas = row["delta_vs_none"] or {}
        cells = []
        for t in tasks:
            c = row["tasks"][t]
            text = fmt(c["score"])
            if c["std"] is not None:
                text += f" ± {c['std']:.1f}"
            if row["arm"] != "none" and deltas.get(t) is not None:
                text += f" ({fmt(deltas[t], signed=True)})"
            cells.append(text)
        delta_avg = fmt(deltas.get("average"), signed=True) if row["arm"] != "none" else "—"
        lines.append(f"| {row['arm']} | " + " | ".join(cells) + f" | {fmt(row['average'])} | {delta_avg} |")
    lines += ["", "Task columns: mean over the task's languages (QA: (EM+F1)/2); (Δ) against the `none` arm.", ""]
    for t in tasks:
        info = board["tasks"][t]
        langs = info["languages"]
        lines += [f"## {t} per language ({info['metric']}; score = {info['score']})", "",
                  "| arm | " + " | ".join(langs) + " |", "|---|" + "---:|" * len(langs)]
        for row in board["arms"]:
            per_lang = row["tasks"][t]["languages"]
            cells = " | ".join(_lang_cell(per_lang.get(lang), info) for lang in langs)
            lines.append(f"| {row['arm']} | {cells} |")
        lines.append("")
    return "\n".join(lines)


def _lang_cell(metrics: dict | None, info: dict) -> str:
    if not metrics:
        return NA
    names = info["score"].split("+")
    values = [metrics.get(n) for n in names]
    if any(v is None for v in values):
        return NA
    return "/".join(f"{v:.1f}" for v in values)
