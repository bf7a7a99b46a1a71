"""Task kinds: each owns featurisation, its head, its loss, decoding, evaluation and its submission format.

Kinds are plugins: a `harness.kinds.base.Kind` subclass registered in the entry point group `xstilts.kinds`
(built-in ones in pyproject.toml, exactly as a third-party package registers its own), imported lazily; a
kind module imports no torch at module level, so planning and validation never import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness import registry
from harness.errors import UserError

if TYPE_CHECKING:
    from harness.kinds.base import Kind


def kind_class(name: str) -> type[Kind]:
    """The Kind subclass registered as `name`; an unknown name is a UserError with a suggestion."""
    from harness.kinds.base import Kind

    found = registry.get("kind", name)
    if not (isinstance(found, type) and issubclass(found, Kind)):
        ep = registry.entry_point("kind", name)
        raise UserError(f"kind '{name}' ({ep.value if ep else found!r}) is not a harness.kinds.base.Kind "
                        "subclass; register the class itself")
    return found


def kind_trains(name: str) -> bool:
    """Whether tasks of this kind get a target training phase (the kind's `trains_head`)."""
    return bool(kind_class(name).trains_head)


def get_kind(name: str) -> Kind:
    """A new instance of the kind registered as `name`."""
    return kind_class(name)()
