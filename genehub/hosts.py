"""Hosts: load a causal LM and describe it exactly, so a gene can say which host it fits.

A host is any transformers causal LM directory (the zoo's, or a Hub snapshot on disk). Its
:class:`HostInfo` is what a gene card records under ``host`` and what compatibility checks compare:
architecture, shapes and a fingerprint of the tokenizer's vocabulary.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ._digest import dir_digest
from .errors import IncompatibleError, NotFoundError

_WEIGHT_SUFFIXES = (".safetensors",)
#: What genehub writes beside a model it made (the zoo, a breeding): its id, role, licence and lineage.
MODEL_META = "genehub.json"


@dataclass(frozen=True)
class HostInfo:
    """What a gene needs to know about its host. Mirrors the card's ``host`` object."""

    repo_id: str
    revision: str  # a Hub commit sha, or "sha256:<hex>" content hash of a local directory
    architecture: str
    model_type: str
    hidden_size: int
    num_layers: int
    vocab_size: int
    tokenizer_fingerprint: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostInfo:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def _check_dir(path: str | Path) -> Path:
    path = Path(path)
    if not (path / "config.json").is_file():
        raise NotFoundError(
            f"{path} is not a model directory (no config.json).",
            hint="Pass the folder written by `save_pretrained` (for example from `genehub zoo build`).",
            path=str(path),
        )
    return path


def content_hash(path: str | Path) -> str:
    """``sha256:<hex>`` over the config and weight files of a model directory (order-independent)."""
    path = _check_dir(path)
    return dir_digest(path, sorted(p.name for p in path.iterdir()
                                   if p.name == "config.json" or p.suffix in _WEIGHT_SUFFIXES))


def model_meta(path: str | Path) -> dict[str, Any]:
    """The ``genehub.json`` beside a model genehub made (``{}`` for any other model directory)."""
    meta = Path(path) / MODEL_META
    if not meta.is_file():
        return {}
    data = json.loads(meta.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def model_license(path: str | Path) -> str | None:
    """The licence a model directory states: its ``genehub.json``, else its Hub model card (README.md)."""
    found = model_meta(path).get("license")
    if found:
        return str(found)
    readme = Path(path) / "README.md"
    if not readme.is_file():
        return None
    from huggingface_hub import ModelCard

    try:
        license_ = ModelCard.load(readme, ignore_metadata_errors=True).data.license
    except ValueError:  # not a readable card
        return None
    return str(license_) if license_ else None


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """``sha256:<hex>`` of the vocabulary and special tokens: equal iff token ids mean the same thing."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    special = {k: str(v) for k, v in sorted(tokenizer.special_tokens_map.items())}
    blob = json.dumps({"vocab": vocab, "special": special}, sort_keys=True, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def describe_host(path: str | Path, *, repo_id: str | None = None, revision: str | None = None) -> HostInfo:
    """Describe the model directory at ``path`` without loading its weights.

    Args:
        path: a directory with ``config.json``, weights and tokenizer files.
        repo_id: the Hub id to record (default: the directory's name prefixed with ``local/``).
        revision: the exact Hub commit; default: the directory's content hash.
    """
    from transformers import AutoConfig, AutoTokenizer

    path = _check_dir(path)
    config = AutoConfig.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return HostInfo(
        repo_id=repo_id or _recorded_repo_id(path),
        revision=revision or content_hash(path),
        architecture=(config.architectures or [type(config).__name__])[0],
        model_type=config.model_type,
        hidden_size=int(config.hidden_size),
        num_layers=int(config.num_hidden_layers),
        vocab_size=int(config.vocab_size),
        tokenizer_fingerprint=tokenizer_fingerprint(tokenizer),
    )


def _recorded_repo_id(path: Path) -> str:
    # The zoo writes genehub.json beside each model with the id it should be known by.
    return str(model_meta(path).get("repo_id") or f"local/{path.name}")


def load_host(path: str | Path, *, dtype: Any = None) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a model directory, in eval mode, on the CPU."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ._quiet import quiet_loading

    path = _check_dir(path)
    with quiet_loading():  # no "Loading weights" bar per model
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    return model, tokenizer


def compatibility_problems(expected: dict[str, Any] | HostInfo, actual: HostInfo, *, exact_revision: bool = False,
                           same_host: bool = False) -> list[str]:
    """Every way ``actual`` differs from the host a gene was made for, each saying what would fix it.

    Architecture, model type, hidden size, layer count, vocabulary size and tokenizer fingerprint must
    match; the revision only when ``exact_revision`` (a gene usually works on any revision with the
    same shapes and tokenizer, e.g. a re-upload). With ``same_host`` the host must also be the one
    ``expected`` names: the same repo id, or the same revision under another name. Same shapes and
    tokenizer are not the same host (a heterologous twin has both), so every check of a gene against
    the host it will run on (pull, compose, the Space) passes ``same_host=True``; a check between two
    models of one family (a donor and its host) does not.
    """
    want = expected.to_dict() if isinstance(expected, HostInfo) else dict(expected)
    have = actual.to_dict()
    problems = []
    if same_host and want.get("repo_id") != have["repo_id"] and want.get("revision") != have["revision"]:
        problems.append(f"host: the gene was made for {want.get('repo_id')!r} at {want.get('revision')!r} "
                        f"but the host is {have['repo_id']!r} at {have['revision']!r}")
    keys = ["architecture", "model_type", "hidden_size", "num_layers", "vocab_size", "tokenizer_fingerprint"]
    if exact_revision:
        keys.append("revision")
    for key in keys:
        if key in want and want[key] != have[key]:
            problems.append(
                f"{key}: the gene needs {want[key]!r} but the host has {have[key]!r}"
                f" (use the host {want.get('repo_id', '?')} or a gene made for this host)"
            )
    return problems


def require_compatible(expected: dict[str, Any] | HostInfo, actual: HostInfo, *, what: str = "gene",
                       exact_revision: bool = False, same_host: bool = False) -> None:
    """Raise :class:`IncompatibleError` listing every mismatch between ``expected`` and ``actual``
    (see :func:`compatibility_problems` for ``exact_revision`` and ``same_host``)."""
    problems = compatibility_problems(expected, actual, exact_revision=exact_revision, same_host=same_host)
    if problems:
        raise IncompatibleError(
            f"The {what} does not fit host {actual.repo_id}: " + "; ".join(problems) + ".",
            reasons=problems,
            hint="Pick a gene built for this host, or pass the host it names with --host.",
        )
