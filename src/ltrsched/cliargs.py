"""Turn config dataclasses into argparse flags and back, so a flag's help is its field's help.

A field becomes ``--field-name``; its help text is the comment on its line (continued by comment-only lines
right below it), as every dataclass in the package documents its fields, or ``metadata["help"]`` where given.
Bools become ``--flag/--no-flag``; ``list[...]`` fields take comma-separated values.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def field_comments(cls: type) -> dict[str, str]:
    """Field name -> the comment that documents it, for ``cls`` and its dataclass bases (source read once)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            lines = inspect.getsource(klass).splitlines()
        except (OSError, TypeError):
            continue
        out |= _comments(lines)
    return out


_FIELD_LINE = re.compile(r"^\s+(\w+)\s*:[^#]*#\s?(.*)$")  # "    name: type = default  # help"
_COMMENT_LINE = re.compile(r"^\s+#\s?(.*)$")  # "    # help, continued"


def _comments(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    current = ""
    for line in lines:
        field = _FIELD_LINE.match(line)
        code = line.split("#", 1)[0]
        if field and code.count('"') % 2 == 0 and code.count("'") % 2 == 0:  # the "#" is not inside a string
            current = field.group(1)
            out[current] = field.group(2).strip()
        elif current and (more := _COMMENT_LINE.match(line)):
            out[current] += " " + more.group(1).strip()
        else:
            current = ""
    return out


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or f.name.startswith("_") or not f.init:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help") or comments.get(f.name, "")
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        typ = hints[f.name]
        origin = typing.get_origin(typ)
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if typ is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                                help=help_text)
            continue
        if origin in (list, tuple):
            item = args[0] if args else str
            parser.add_argument(flag, dest=f.name, type=_list_of(item), default=default,
                                help=f"{help_text} (comma-separated; default: {_show(default)})")
            continue
        if args and origin is not None:  # Optional[X] / X | None
            typ = args[0]
        parser.add_argument(flag, dest=f.name, type=typ if typ in (int, float, str) else str, default=default,
                            help=f"{help_text} (default: {_show(default)})")


def from_namespace(cls: type[T], ns: argparse.Namespace, **overrides: Any) -> T:
    values = {f.name: getattr(ns, f.name) for f in dataclasses.fields(cls)  # type: ignore[arg-type]
              if f.init and hasattr(ns, f.name)}
    values.update(overrides)
    return cls(**values)


def _list_of(item: Any) -> Any:
    def parse(text: str) -> list[Any]:
        return [item(part.strip()) for part in text.split(",") if part.strip()]

    return parse


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)
