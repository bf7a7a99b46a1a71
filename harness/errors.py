"""The one exception type for mistakes a user can cause (bad YAML, unknown task, missing data)."""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """A problem the user can fix: printed as one line by the CLI, exit code 2, no traceback.

    The message names what is wrong, where (file, field, line or dataset) and how to fix it.
    """

    exit_code = 2


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or a list of valid names."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    if close:
        return f" (did you mean '{close[0]}'?)"
    shown = ", ".join(sorted(choices)[:12])
    return f" (known: {shown}{', ...' if len(choices) > 12 else ''})"


def first_validation_error(exc: Any) -> tuple[str, str]:
    """(dotted location, message) of a pydantic ValidationError's first error; location '' at the top level."""
    err = exc.errors()[0]
    return ".".join(str(p) for p in err["loc"]), err["msg"]


def settings_error(exc: Any, where: str, owner: str) -> UserError:
    """One line for invalid plugin settings: `where.location: message (owner)`."""
    loc, msg = first_validation_error(exc)
    return UserError(f"{where}{'.' + loc if loc else ''}: {msg} ({owner})")


def validated(model: Any, data: Any, where: str) -> Any:
    """`model.model_validate(data)` (a pydantic model class); a validation error becomes one UserError line
    `where: field: message`."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        loc, msg = first_validation_error(exc)
        raise UserError(f"{where}: {loc or '(top level)'}: {msg}") from None
