"""Checked reading of a mapping file's raw YAML values, one method per shape.

``MappingReader`` turns loosely typed YAML data (texts, lists, mappings,
transforms, value specs) into the typed parts of ``importer.mapping.spec``,
raising ``MappingError`` that names the file and the offending key.
``importer.mapping.parse`` uses it section by section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from importer.errors import MappingError
from importer.mapping.spec import (
    BUILTIN_VALUE_MAPS,
    ON_INVALID,
    TRANSFORMS,
    Template,
    Transform,
    ValueSpec,
)


class MappingReader:
    """Reads the raw YAML data with one helper per shape, naming the key on error.

    ``value_maps`` are the value maps ``transform: {map: name}`` may name: the
    built-in ones, plus those the file defines once the parser has read them.
    """

    def __init__(self, path: Path | None):
        self.path = path
        self.value_maps: dict[str, dict[str, str]] = dict(BUILTIN_VALUE_MAPS)

    def fail(self, key: str, message: str) -> MappingError:
        """The error to raise for ``key`` of this file (not raised here)."""
        return MappingError(message, path=str(self.path) if self.path else None, key=key)

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(
                key, f"expected a mapping of keys to values, got {type(value).__name__}"
            )
        return value

    def text(self, value: Any, key: str, *, allow_empty: bool = False) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(key, f"expected text, got {type(value).__name__}")
        text = str(value)
        if not text.strip() and not allow_empty:
            raise self.fail(key, "must not be empty")
        return text

    def texts(self, value: Any, key: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return (str(value),)
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list of column names, got {type(value).__name__}")
        return tuple(self.text(v, f"{key}[{i}]") for i, v in enumerate(value))

    def items(self, value: Any, key: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list, got {type(value).__name__}")
        return value

    def choice(self, value: Any, key: str, choices: tuple[str, ...], default: str) -> str:
        if value is None:
            return default
        if value not in choices:
            raise self.fail(key, f"{value!r} is not one of {', '.join(choices)}")
        return str(value)

    def unknown_keys(self, data: dict[str, Any], allowed: set[str], key: str) -> None:
        extra = sorted(set(data) - allowed)
        if extra:
            label = f"{key}." if key else ""
            raise self.fail(
                f"{label}{extra[0]}",
                f"unknown key; expected one of {', '.join(sorted(allowed))}",
            )

    def transform(self, value: Any, key: str) -> Transform:
        if isinstance(value, str):
            name, arg = value, None
        elif isinstance(value, dict) and len(value) == 1:
            name, arg = next(iter(value.items()))
        else:
            raise self.fail(key, "a transform is a name, or a one-key mapping such as {map: role}")
        if name not in TRANSFORMS:
            raise self.fail(key, f"unknown transform {name!r}; known: {', '.join(TRANSFORMS)}")
        if TRANSFORMS[name] and arg is None:
            raise self.fail(key, f"transform {name!r} needs an argument, e.g. {{{name}: ...}}")
        if name == "map":
            arg = self.value_map(arg, key)
        return Transform(name, arg)

    def value_map(self, arg: Any, key: str) -> tuple[tuple[str, str], ...]:
        """A value map by name (built in, or under value_maps:) or inline, as sorted pairs."""
        if isinstance(arg, str):
            if arg not in self.value_maps:
                known = ", ".join(sorted(self.value_maps))
                raise self.fail(
                    key, f"unknown value map {arg!r}; define it under value_maps: (known: {known})"
                )
            table = self.value_maps[arg]
        else:
            raw = self.mapping(arg, key)
            table = {str(k): self.text(v, f"{key}.{k}", allow_empty=True) for k, v in raw.items()}
        return tuple(sorted(table.items()))

    def transforms(self, value: Any, key: str) -> tuple[Transform, ...]:
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        return tuple(self.transform(v, f"{key}[{i}]") for i, v in enumerate(items))

    def template(self, value: Any, key: str, join: Any) -> Template:
        parts = self.texts(value, key)
        if not parts:
            raise self.fail(key, "a template needs at least one part")
        return Template(
            parts, "; " if join is None else self.text(join, f"{key}.join", allow_empty=True)
        )

    def value_spec(self, value: Any, key: str, on_invalid: str = "reject") -> ValueSpec:
        """A value spec; ``on_invalid`` is what it does with bad values unless it says."""
        if isinstance(value, str | list):
            return ValueSpec(columns=self.texts(value, key), on_invalid=on_invalid)
        data = self.mapping(value, key)
        self.unknown_keys(
            data, {"from", "template", "join", "value", "transform", "fallback", "on_invalid"}, key
        )
        sources = [k for k in ("from", "template", "value") if k in data]
        if len(sources) != 1:
            raise self.fail(key, "give exactly one of from (columns), template or value")
        return ValueSpec(
            columns=self.texts(data.get("from"), f"{key}.from"),
            template=self.template(data["template"], f"{key}.template", data.get("join"))
            if "template" in data
            else None,
            value=self.text(data["value"], f"{key}.value") if "value" in data else None,
            transforms=self.transforms(data.get("transform"), f"{key}.transform"),
            fallback=self.value_spec(data["fallback"], f"{key}.fallback", on_invalid)
            if "fallback" in data
            else None,
            on_invalid=self.choice(
                data.get("on_invalid"), f"{key}.on_invalid", ON_INVALID, on_invalid
            ),
        )
