"""One-line checks of user input for the validated dataclasses (configs, options, specs), and
the one line of an error that the command line and sweep reports show."""

from __future__ import annotations

import dataclasses

_TYPES = {"str": str, "int": int, "float": (int, float), "bool": bool}


def require(ok: bool, name: str, value: object, rule: str) -> None:
    """Raise ``ValueError("name=value rule")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{name}={value!r} {rule}")


def check_field_types(instance: object, error: type[Exception] = ValueError) -> None:
    """Each field of a dataclass holds its annotated type (``"int"``, ``"float"``, ``"bool"``,
    ``"str"``; other annotations are not checked); a bool is not accepted as a number."""
    for field in dataclasses.fields(instance):
        if field.type not in _TYPES:
            continue
        value = getattr(instance, field.name)
        if not isinstance(value, _TYPES[field.type]) or (field.type != "bool" and isinstance(value, bool)):
            raise error(f"{field.name}={value!r} must be of type {field.type}")


MAX_COUNT = 2**53  # a count beyond this is no run's or memory's: exact integers end there in a float


def is_count(value: object) -> bool:
    """Whether a value read from a file is a count: an int (not a bool) in [0, 2**53]."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT


def first_line(error: BaseException) -> str:
    """The first line of an error's message, or its type name when the message is empty."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
