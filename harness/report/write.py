"""Write a runs directory's reports: leaderboard.json (built from its models), leaderboard.md, heatmap.png."""

from __future__ import annotations

from pathlib import Path

HEATMAP = "heatmap.png"


def write_reports(runs_dir: Path, out_dir: Path, split: str = "test", allow_mixed: bool = False,
                  require_complete: bool = False, metric: str | None = None) -> list[Path]:
    """Build the leaderboard and write its files into out_dir; returns the paths written. `metric`: one
    metric in every cell instead of each task's score (see `Leaderboard.metric`).

    require_complete: after writing, a UserError unless the grid covers at least one suite in full and every
    row (each arm and the best row) has a score for each such suite.
    """
    from harness.report.heatmap import draw
    from harness.report.leaderboard import build
    from harness.report.markdown import render
    from harness.store import write_json, write_text

    board = build(runs_dir, split, allow_mixed, metric=metric)
    written = [out_dir / "leaderboard.json", out_dir / "leaderboard.md"]
    heatmap = draw(board, out_dir / HEATMAP)
    write_json(written[0], board)
    write_text(written[1], render(board, HEATMAP if heatmap else None))
    if require_complete:
        check_complete(board, written[1])
    return written + ([heatmap] if heatmap else [])


def check_complete(board: dict, where: Path) -> None:
    """A UserError naming the rows without a score for a suite whose every task is a target of the grid."""
    from harness.errors import UserError

    full = [name for name, suite in board["suites"].items() if set(suite["tasks"]) <= set(board["tasks"])]
    if not full:
        raise UserError(f"{where}: no suite has all its tasks in this grid, so no row can have a suite score; "
                        "add the missing targets or drop --require-complete")
    rows = board["arms"] + ([board["best_per_target"]] if board["best_per_target"] else [])
    missing = [f"{row['arm']} ({name})" for row in rows for name in full
               if row["suites"][name]["score"]["score"] is None]
    if missing:
        raise UserError(f"{where}: {len(missing)} row(s) lack a suite score: {', '.join(missing)}; run the "
                        "missing stages (`xstilts run` resumes) or see the n/a cells for which are missing")
