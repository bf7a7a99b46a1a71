"""Heatmap PNG of (intermediate arm x target task) score deltas against the `none` arm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.experiment import NONE_ARM


def delta_matrix(board: dict[str, Any], base: str = NONE_ARM) -> tuple[list[str], list[str], list[list]]:
    """(arm names, task names, rows of deltas or None) for the intermediate arms against `base`."""
    tasks = list(board["tasks"])
    arms = [r for r in board["arms"] if r["role"] == "intermediate" and base in r["deltas"]]
    matrix = [[r["deltas"][base]["tasks"][t]["delta"] for t in tasks] for r in arms]
    return [r["arm"] for r in arms], tasks, matrix


def draw(board: dict[str, Any], path: Path, base: str = NONE_ARM) -> Path | None:
    """Write the heatmap (matplotlib, Agg); None when there is no intermediate arm or no `base` arm."""
    arms, tasks, matrix = delta_matrix(board, base)
    if not arms:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    values = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
    finite = values[np.isfinite(values)]
    bound = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    fig, ax = plt.subplots(figsize=(max(6.0, 2.0 + 0.9 * len(tasks)), 1.6 + 0.5 * len(arms)), dpi=120)
    cmap = matplotlib.colormaps["RdBu"].copy()
    cmap.set_bad("#dddddd")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=-bound, vmax=bound, aspect="auto")
    ax.set_xticks(range(len(tasks)), tasks, rotation=45, ha="right")
    ax.set_yticks(range(len(arms)), arms)
    for i in range(len(arms)):
        for j in range(len(tasks)):
            text = "n/a" if np.isnan(values[i, j]) else f"{values[i, j]:+.1f}"
            dark = not np.isnan(values[i, j]) and abs(values[i, j]) > 0.6 * bound  # dark cell: white text
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
    fig.colorbar(image, ax=ax, label=f"Δ vs {base} (points)")
    ax.set_title(f"{board['experiment']['name']}: intermediate x target, Δ vs {base} ({board['split']})",
                 fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
