"""Turn config dataclasses into argparse flags and back, so a flag's help is its field's help.

A field becomes ``--field-name``; its ``metadata["help"]`` is the help text. Bools become
``--flag/--no-flag``; ``list[...]`` fields take comma-separated values.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or f.name.startswith("_") or not f.init:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
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
