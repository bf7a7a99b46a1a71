"""leaderboard.schema.json: generated from harness.report.models (`make schema`), shipped as package data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.report.models import Leaderboard

SCHEMA_FILE = Path(__file__).with_name("leaderboard.schema.json")


def generate() -> str:
    """The schema text of leaderboard.json (what it holds as written: every field present)."""
    return json.dumps(Leaderboard.model_json_schema(mode="serialization"), indent=2, ensure_ascii=False) + "\n"


def write() -> Path:
    """Regenerate the shipped schema file."""
    SCHEMA_FILE.write_text(generate(), encoding="utf-8")
    return SCHEMA_FILE


def validate(board: dict[str, Any]) -> Leaderboard:
    """`board` as a Leaderboard; pydantic.ValidationError when it does not match (a bug, not a user error)."""
    return Leaderboard.model_validate(board)
