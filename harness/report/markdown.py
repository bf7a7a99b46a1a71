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
        for name in board["suites"][suite].get("labels", {}):
            if name != "score":  # labelled scores beside the headline (XTREME-R: category mean, with LAReQA)
                cols.append((f"{suite} {name}", lambda r, n=name: r["suites"][suite]["scores"][n]))
    cols.append(("avg (grid)", lambda r: r["average"]))
    return cols


def _rows(board: dict) -> list[dict]:
    return board["arms"] + ([board["best_per_target"]] if board["best_per_target"] else [])


def _label(row: dict) -> str:
    return row.get("label") or row["arm"]


def _metric_line(board: dict) -> list[str]:
    """What the cells are when one metric replaces the task scores (`--metric`)."""
    if not board.get("metric"):
        return []
    return ["", f"Every cell is `{board['metric']}` (`--metric {board['metric']}`): a task's mean of it over its "
            "languages, n/a where the task does not report it. These are not the tasks' official scores, so no "
            "suite score is shown."]


def render(board: dict[str, Any], heatmap: str | None = None) -> str:
    exp, cols = board["experiment"], _columns(board)
    head = "| arm | n | " + " | ".join(h for h, _ in cols) + " |"
    rule = "|---|---:|" + "---:|" * len(cols)
    lines = [
        f"# Leaderboard: {exp['name']}",
        *_banner(board),
        "",
        f"Model `{exp['model']}`, seeds {exp['seeds']}, split `{board['split']}`. Scores in percent, mean ± std "
        "over seeds.",
        *_metric_line(board),
        "",
        f"- n = seeds behind the numbers shown in the row (split `{board['split']}`).",
        f"- {_na_legend(board)}",
        f"- avg (grid) = mean of the row's task scores over this grid's {len(board['tasks'])} targets and their "
        "languages only: not a suite score, not comparable with a published one.",
        f"- {_progress(board['progress'])}",
        "",
        head,
        rule,
    ]
    for row in _rows(board):
        shown = [get(row) for _, get in cols]
        n = min((s["n_seeds"] for s in shown if s["score"] is not None), default=0)
        lines.append(f"| {_label(row)} | {n} | " + " | ".join(_stat(s) for s in shown) + " |")
    if board["best_per_target"]:
        best = board["best_per_target"]
        rules = best.get("selection_rules", {})
        chosen = ", ".join(f"{t}: {a or NA}" + (f" (by {rules[t]['by']} dev, a proxy: {t} has no dev split)"
                                                 if rules.get(t, {}).get("by") not in (None, t) else "")
                           for t, a in best["selected"].items())
        lines += ["", f"Best intermediate per target, selected on the dev split (never on test): {chosen}."]
    lines += _robustness(board)
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
    lines += _notes(board)
    lines += _per_language(board)
    return "\n".join(lines) + "\n"


def _robustness(board: dict) -> list[str]:
    """One section: per row the worst language of each target, their mean and the average's seed spread;
    then the transfer gap table."""
    tasks, rows = list(board["tasks"]), _rows(board)
    out = ["", "## Robustness", "",
           f"Split `{board['split']}`; n/a: not every seed has every language and task (strict), or a spread over "
           "fewer than two seeds.", "",
           "- worst X: on target X, the language with the lowest task score (mean over seeds) and that score.",
           f"- worst mean: the mean of the row's worst-language scores over this grid's {len(tasks)} targets.",
           "- avg std, avg range: how avg (grid) moves with the seed: sample std and max - min over seeds, in "
           "points.", "",
           "| arm | " + " | ".join(f"worst {t}" for t in tasks) + " | worst mean | avg std | avg range |",
           "|---|" + "---:|" * (len(tasks) + 3)]
    for row in rows:
        rob = row.get("robustness") or {}
        worst = [(rob.get("tasks", {}).get(t) or {}).get("worst_language") for t in tasks]
        avg = rob.get("average") or {}
        shown = [f"{w['language']} {fmt(w['score'])}" if w else NA for w in worst]
        shown += [fmt(rob.get("worst_language_mean")), fmt(avg.get("std")), fmt(avg.get("range"))]
        out.append(f"| {_label(row)} | " + " | ".join(shown) + " |")
    return out + _transfer_gap(board)


def _transfer_gap(board: dict) -> list[str]:
    """The transfer gap per row and task, with the worst language in brackets."""
    tasks, rows = list(board["tasks"]), _rows(board)
    notes = {}
    for t in tasks:
        note = next((n for r in rows if (n := (r["tasks"][t].get("transfer_gap") or {}).get("note"))), None)
        if note:
            notes[t] = note
    legend = (f"Cell = transfer gap (XTREME-R) in points on split `{board['split']}`: the task score in English minus "
              "the mean of the task's other languages in this grid, per seed then mean over seeds; **lower is "
              "better**. In brackets the language with the lowest mean score. n/a: not every seed has English and "
              "every other language")
    legend += ("; always n/a for " + "; ".join(f"{t} ({n})" for t, n in notes.items()) if notes else "") + "."
    out = ["", "### Transfer gap", "", legend, "", "| arm | " + " | ".join(tasks) + " |",
           "|---|" + "---:|" * len(tasks)]
    for row in rows:
        out.append(f"| {_label(row)} | " + " | ".join(_gap_cell(row["tasks"][t]) for t in tasks) + " |")
    return out


def _gap_cell(cell: dict) -> str:
    gap, worst = cell.get("transfer_gap") or {}, cell.get("worst_language")
    return fmt(gap.get("score")) + (f" ({worst['language']})" if worst else "")


def _notes(board: dict) -> list[str]:
    """One line per target task that carries a note (e.g. which split its test column is)."""
    notes = [f"- {t}: {info['note']}" for t, info in board["tasks"].items() if info.get("note")]
    return ["", "## Notes", "", *notes] if notes else []


def synthetic_warning(board: dict) -> str | None:
    """The warning a report built on generated fixtures opens with (see `synthetic`), or None."""
    syn = board.get("synthetic") or {}
    what = []
    if syn.get("data"):
        what.append("the data is generated (synthetic fixture snapshots)")
    if syn.get("model"):
        what.append("the model is a tiny randomly initialised fixture, not a pretrained encoder")
    if not what:
        return None
    return (f"Synthetic smoke test, not results: {' and '.join(what)}. These numbers only show that the pipeline "
            "runs; never compare them with published numbers")


def _banner(board: dict) -> list[str]:
    """The warning as a block quote, with the evidence."""
    warning = synthetic_warning(board)
    if warning is None:
        return []
    head, _, tail = warning.partition(". ")
    return ["", f"> **{head}.** {tail} (the references below are real models on real data, averaged over each "
                "task's full language list).",
            ">", "> Detected: " + "; ".join((board.get("synthetic") or {}).get("why") or []) + "."]


def _na_legend(board: dict) -> str:
    """What n/a means, naming the tasks this grid lacks for each group and suite shown."""
    text = ("n/a = not computed for every seed and language (strict: no average over what happens to exist); a "
            "group or suite score is n/a when one of its tasks is not in this grid or not complete")
    suite = _primary_suite(board)
    if suite is None:
        return text + "."
    tasks, info = set(board["tasks"]), board["suites"][suite]
    lacking = [f"{g} lacks {', '.join(t for t in members if t not in tasks)}"
               for g, members in info["groups"].items() if set(members) & tasks and not set(members) <= tasks]
    missing = [t for t in info["tasks"] if t not in tasks]
    if missing:
        lacking.append(f"{suite} needs all {len(info['tasks'])} tasks of the suite")
    text += f" (here: {'; '.join(lacking)})." if lacking else "."
    labels = info.get("labels", {})
    if len(labels) > 1:  # a suite with labelled scores beside its headline says what each column is
        named = (f"{suite}{'' if n == 'score' else ' ' + n} = {label}" for n, label in labels.items())
        text += " " + "; ".join(named) + "."
    return text


def _progress(progress: dict) -> str:
    """Evaluate stages done, each counted once, as they exist in the runs directory."""
    text = f"Evaluate stages done: {progress['evaluations_done']}/{progress['evaluations_planned']}"
    if progress.get("evaluation_cells", progress["evaluations_planned"]) != progress["evaluations_planned"]:
        text += (f" (they fill {progress['evaluation_cells']} arm × target × seed cells: arms with the same "
                 "encoder share a stage)")
    if progress.get("evaluations_outside_plan"):
        text += (f"; the runs directory also holds {progress['evaluations_outside_plan']} finished evaluate stages "
                 "outside this plan (earlier code or settings), not used here")
    return text + "."


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
    return out + _reference_languages(board)


def _reference_languages(board: dict) -> list[str]:
    """Per task, the languages the published scores average next to the ones this grid's rows average."""
    official: dict[str, list[str]] = {}
    for ref in board["references"]:
        for t, r in ref["tasks"].items():
            if r and r.get("languages"):
                official.setdefault(t, r["languages"])
    if not official:
        return []
    parts = []
    for t, langs in official.items():
        mine = board["tasks"][t]["languages"]
        parts.append(f"{t} all {len(langs)}" if set(langs) <= set(mine) else
                     f"{t} {len(mine)} of {len(langs)} ({', '.join(mine)})")
    return ["", "Languages: a published score averages its task's full official language list; the computed rows "
                "above average only this grid's languages: " + "; ".join(parts) + "."]


def _per_language(board: dict) -> list[str]:
    out = ["", "## Per language"]
    for t, info in board["tasks"].items():
        langs = info["languages"]
        out += ["", f"<details><summary>{t} per language ({info['metric']}; {_score_label(info)})</summary>",
                "", "| arm | " + " | ".join(langs) + " |", "|---|" + "---:|" * len(langs)]
        for row in _rows(board):
            per_lang = row["tasks"][t]["languages"]
            out.append(f"| {_label(row)} | " + " | ".join(_lang_cell(per_lang.get(lang), info) for lang in langs)
                       + " |")
        out += ["", "</details>"]
    return out


def _score_label(info: dict) -> str:
    """What a task's score is: its one metric, or the mean of several (QA: (EM+F1)/2) and what cells show."""
    names = info["score"].split("+")
    if len(names) == 1:
        return f"score = {names[0]}"
    return f"score = ({' + '.join(names)}) / {len(names)}; cells: {'/'.join(names)}"


def _lang_cell(metrics: dict | None, info: dict) -> str:
    if not metrics:
        return NA
    values = [metrics.get(n) for n in info["score"].split("+")]
    if any(v is None for v in values):
        return NA
    return "/".join(f"{v:.1f}" for v in values)
