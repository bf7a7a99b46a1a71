"""`python -m harness.report.schema`: regenerate leaderboard.schema.json from the models."""

from harness.report.schema import write

print(f"wrote {write()}")
