"""The JSON Schema of leaderboard.json, shipped as package data, and its validator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).with_name("leaderboard.schema.json")


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def validate(board: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when `board` does not match the schema (a bug, not a user error)."""
    import jsonschema

    jsonschema.validate(json.loads(json.dumps(board)), schema())
