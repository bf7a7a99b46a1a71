"""Write a runs directory's reports: leaderboard.json (schema-checked), leaderboard.md, heatmap.png."""

from __future__ import annotations

from pathlib import Path

HEATMAP = "heatmap.png"


def write_reports(runs_dir: Path, out_dir: Path, split: str = "test", allow_mixed: bool = False) -> list[Path]:
    """Build the leaderboard and write its files into out_dir; returns the paths written."""
    from harness.report.heatmap import draw
    from harness.report.leaderboard import build
    from harness.report.markdown import render
    from harness.report.schema import validate
    from harness.store import write_json, write_text

    board = build(runs_dir, split, allow_mixed)
    validate(board)
    written = [out_dir / "leaderboard.json", out_dir / "leaderboard.md"]
    heatmap = draw(board, out_dir / HEATMAP)
    write_json(written[0], board)
    write_text(written[1], render(board, HEATMAP if heatmap else None))
    return written + ([heatmap] if heatmap else [])
