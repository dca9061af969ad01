"""The gene card (``gene.json``): validated against ``schemas/gene-card.schema.json`` on every read and write.

The schema is the single source of truth; this module only adds the few cross-field checks a JSON
schema cannot express (layer indices within the host, the host parent matching the host) and turns
violations into a :class:`~genehub.errors.CardValidationError` listing ``(json_path, message)`` pairs.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from .._resources import schema_path
from ..errors import CardValidationError, NotFoundError
from .layout import CARD

SCHEMA_FILE = "gene-card.schema.json"
SCHEMA_VERSION = "1.0"
_MAX_ERRORS = 20


@cache
def card_schema() -> dict[str, Any]:
    """The gene card JSON schema (draft 2020-12) as a dict."""
    return json.loads(schema_path(SCHEMA_FILE).read_text(encoding="utf-8"))


@cache
def _validator() -> Any:
    import jsonschema

    schema = card_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def card_errors(card: Any) -> list[tuple[str, str]]:
    """Every problem with ``card`` as ``(json_path, message)`` pairs; empty when the card is valid.

    Paths are JSONPath-like (``$.host.hidden_size``, ``$.parents[0].role``). A missing required
    property is reported at the property's own path (``$.lineage.seed``).
    """
    errors: list[tuple[str, str]] = []
    for err in sorted(_validator().iter_errors(card), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        path = err.json_path
        message = err.message
        if err.validator == "required":
            missing = [name for name in err.validator_value if isinstance(err.instance, dict) and name not in err.instance]
            for name in missing:
                errors.append((_join(path, name), "is required but missing"))
            continue
        if err.validator == "additionalProperties" and err.validator_value is False:
            message = f"{message}; remove it or put free-form data under $.extra"
        errors.append((path, message))
    if not errors and isinstance(card, dict):
        errors.extend(_cross_field_errors(card))
    # jsonschema reports a ``required`` failure once per missing property, each naming the whole list:
    # every missing property would otherwise be listed once per missing property.
    return list(dict.fromkeys(errors))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if name.replace("_", "").isalnum() else f"{path}[{json.dumps(name)}]"


def _cross_field_errors(card: dict[str, Any]) -> list[tuple[str, str]]:
    """Checks across fields that JSON Schema cannot express."""
    errors: list[tuple[str, str]] = []
    num_layers = card["host"]["num_layers"]

    def check_layer(path: str, layer: int) -> None:
        if layer >= num_layers:
            errors.append((path, f"layer {layer} does not exist: the host has {num_layers} layers (0..{num_layers - 1})"))

    for i, layer in enumerate(card["circuit"]["layers"]):
        check_layer(f"$.circuit.layers[{i}]", layer)
    for i, comp in enumerate(card["circuit"]["components"]):
        check_layer(f"$.circuit.components[{i}].layer", comp["layer"])
    for i, row in enumerate(card["homology"]["per_layer"]):
        check_layer(f"$.homology.per_layer[{i}].layer", row["layer"])
    for i, layer in enumerate(card["adapter"]["layers"]):
        check_layer(f"$.adapter.layers[{i}]", layer)

    hosts = [(i, p) for i, p in enumerate(card["parents"]) if p["role"] == "host"]
    if len(hosts) != 1:
        errors.append(("$.parents", f"needs exactly one parent with role 'host', found {len(hosts)}"))
    else:
        i, parent = hosts[0]
        for key in ("repo_id", "revision"):
            if parent[key] != card["host"][key]:
                errors.append((f"$.parents[{i}].{key}", f"{parent[key]!r} differs from $.host.{key} {card['host'][key]!r}"))
    return errors


def validate_card(card: Any, *, source: str = "gene card") -> dict[str, Any]:
    """Check ``card`` against the schema and the cross-field rules.

    Args:
        card: the parsed ``gene.json``.
        source: what to call the card in the error (a path, usually).

    Returns:
        The same card, so calls can be chained.

    Raises:
        CardValidationError: with ``errors=[(json_path, message), ...]``.

    Example:
        >>> validate_card({"name": "x"})  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        CardValidationError: gene card is invalid (15 problems): $.adapter: is required but missing; ...
    """
    errors = card_errors(card)
    if errors:
        shown = "; ".join(f"{path}: {msg}" for path, msg in errors[:_MAX_ERRORS])
        more = f"; and {len(errors) - _MAX_ERRORS} more" if len(errors) > _MAX_ERRORS else ""
        raise CardValidationError(
            f"{source} is invalid ({len(errors)} problem{'s' if len(errors) != 1 else ''}): {shown}{more}.",
            errors=errors,
            hint="Fix these fields (the schema is schemas/gene-card.schema.json), or run `genehub card validate DIR`.",
        )
    return card


def _card_file(dir_or_file: str | Path) -> Path:
    path = Path(dir_or_file)
    return path / CARD if path.is_dir() else path


def load_card(dir_or_file: str | Path) -> dict[str, Any]:
    """Read and validate a gene card.

    Args:
        dir_or_file: a gene directory (its ``gene.json`` is read) or the card file itself.

    Returns:
        The card as a dict.

    Raises:
        NotFoundError: no card there.
        CardValidationError: malformed JSON (path ``$``) or a card that violates the schema.
    """
    path = _card_file(dir_or_file)
    if not path.is_file():
        raise NotFoundError(
            f"No gene card at {path}.",
            hint="Pass a gene directory (it holds gene.json), e.g. one written by `genehub extract`.",
            path=str(path),
        )
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        card = json.loads(text)
    except json.JSONDecodeError as err:
        raise CardValidationError(
            f"{path} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}.",
            errors=[("$", f"malformed JSON: {err.msg} at line {err.lineno} column {err.colno}")],
            hint="Restore the card from the signed gene (pull it again) or fix the JSON syntax.",
        ) from None
    return validate_card(card, source=str(path))


def dump_card(card: dict[str, Any]) -> str:
    """The canonical text of a card: 2-space indented JSON with a final newline."""
    return json.dumps(card, indent=2, ensure_ascii=False) + "\n"


def save_card(card: dict[str, Any], dir_or_file: str | Path) -> Path:
    """Validate ``card`` and write it as ``gene.json``; returns the file's path."""
    path = _card_file(dir_or_file)
    validate_card(card, source=f"card for {path}")
    path.write_text(dump_card(card), encoding="utf-8")
    return path
