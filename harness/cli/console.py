"""The rich console of the CLI's tables: off a terminal (a pipe, a log file) rich assumes 80 columns and breaks
words inside cells, so there it is given room (unless $COLUMNS says otherwise)."""

from __future__ import annotations

import os
import sys
from typing import Any

PIPE_WIDTH = 200


def console(stderr: bool = False) -> Any:
    """A rich Console on stdout (or stderr): the terminal's width, else $COLUMNS, else PIPE_WIDTH."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and not os.environ.get("COLUMNS")
    return Console(stderr=stderr, width=PIPE_WIDTH if wide else None)
