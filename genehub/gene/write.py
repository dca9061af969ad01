"""Write a gene directory: PEFT adapter + examples + validated card (with digests) + rendered README."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._staging import is_forbidden, staged_dir
from ..errors import NotFoundError, UnsafeFileError, UsageError
from .card import save_card, validate_card
from .layout import ADAPTER_CONFIG, ADAPTER_WEIGHTS, EXAMPLES, file_digests
from .modelcard import write_readme


def _save_adapter(source: Any, out_dir: Path) -> None:
    if isinstance(source, (str, Path)):
        src = Path(source)
        if not (src / ADAPTER_CONFIG).is_file() or not (src / ADAPTER_WEIGHTS).is_file():
            pickles = sorted(p.name for p in src.iterdir() if is_forbidden(p.name)) if src.is_dir() else []
            if pickles:
                raise UnsafeFileError(
                    f"{src} holds pickled weights ({', '.join(pickles)}) and no {ADAPTER_WEIGHTS}.",
                    hint="Save the adapter with `save_pretrained(dir, safe_serialization=True)`.",
                )
            raise NotFoundError(
                f"{src} is not a PEFT adapter directory (needs {ADAPTER_CONFIG} and {ADAPTER_WEIGHTS}).",
                hint="Pass a PeftModel or the folder its `save_pretrained` wrote.",
                path=str(src),
            )
        if src.resolve() != out_dir.resolve():
            for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
                shutil.copyfile(src / name, out_dir / name)
        return
    if not hasattr(source, "save_pretrained") or not hasattr(source, "peft_config"):
        raise UsageError(
            f"Cannot write a gene from a {type(source).__name__}.",
            hint="Pass a peft.PeftModel (from get_peft_model) or a PEFT adapter directory.",
        )
    adapters = list(source.peft_config)
    if len(adapters) != 1:
        raise UsageError(
            f"The PeftModel holds {len(adapters)} adapters ({', '.join(adapters)}); a gene holds exactly one.",
            hint="Delete the others with `model.delete_adapter(name)` first.",
        )
    source.save_pretrained(str(out_dir), safe_serialization=True)


def _fill_adapter(card: dict[str, Any], out_dir: Path) -> None:
    """Fill ``adapter`` fields the caller left out from the written adapter_config.json."""
    config = json.loads((out_dir / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    adapter = card.setdefault("adapter", {})
    adapter.setdefault("type", "lora")
    adapter.setdefault("rank", config.get("r"))
    adapter.setdefault("alpha", config.get("lora_alpha"))
    targets = config.get("target_modules")
    if isinstance(targets, list | tuple | set):
        adapter.setdefault("target_modules", sorted(targets))
    layers = config.get("layers_to_transform")
    if layers is None and isinstance(card.get("host"), Mapping) and "num_layers" in card["host"]:
        layers = list(range(card["host"]["num_layers"]))
    if layers is not None:
        adapter.setdefault("layers", [layers] if isinstance(layers, int) else list(layers))
    adapter["size_bytes"] = (out_dir / ADAPTER_WEIGHTS).stat().st_size


def write_examples(path: str | Path, examples: Iterable[Mapping[str, Any]]) -> int:
    """Write ``{"prompt": ..., "answer": ...}`` lines; returns how many were written."""
    count = 0
    with open(path, "w", encoding="utf-8") as fh:
        for i, row in enumerate(examples):
            if not isinstance(row, Mapping) or not isinstance(row.get("prompt"), str):
                raise UsageError(
                    f"Example {i} is not a mapping with a string 'prompt': {row!r}.",
                    hint='Pass examples as dicts like {"prompt": "...", "answer": "..."}.',
                )
            fh.write(json.dumps(dict(row), ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    if count == 0:
        raise UsageError("A gene needs at least one example.", hint="Pass the prompts that express the skill.")
    return count


def write_gene(
    out_dir: str | Path,
    *,
    peft_model_or_adapter_dir: Any,
    card: dict[str, Any],
    examples: Iterable[Mapping[str, Any]],
) -> Path:
    """Write a complete (unsigned) gene directory.

    Saves the adapter (safetensors only), writes ``examples.jsonl``, fills the card's ``files`` digests
    and ``adapter.size_bytes`` (and any ``adapter`` field left out, from adapter_config.json), validates
    the card, writes ``gene.json`` and renders ``README.md``. The caller's ``card`` is not modified.

    Args:
        out_dir: the gene directory (created, or replaced whole once everything is written).
        peft_model_or_adapter_dir: a ``peft.PeftModel`` with one adapter, or a PEFT adapter directory.
        card: the gene card (see docs/CONTRACTS.md and :func:`genehub.gene.example_card`).
        examples: ``{"prompt": ..., "answer": ...}`` dicts that express the skill.

    Returns:
        ``out_dir`` as a Path.

    Raises:
        CardValidationError: the card (with the digests filled) violates the schema; nothing is signed.
        UnsafeFileError: the adapter directory only has pickled weights.

    Example:
        >>> write_gene("genes/sort", peft_model_or_adapter_dir=peft_model, card=card, examples=rows)
    """
    out_dir = Path(out_dir)
    card = copy.deepcopy(card)
    # Built beside the target and swapped into place: a failure leaves no half-written gene behind.
    with staged_dir(out_dir) as staging:
        _save_adapter(peft_model_or_adapter_dir, staging)
        write_examples(staging / EXAMPLES, examples)
        _fill_adapter(card, staging)
        card["files"] = file_digests(staging)
        validate_card(card, source=f"card for {out_dir}")
        save_card(card, staging)
        write_readme(staging, card)
    return out_dir
