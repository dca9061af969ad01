"""Hosts: load a causal LM, describe it exactly, and feed it prompts the one way every stage does.

A host is any transformers causal LM directory (the zoo's, a Hub snapshot on disk, a user's fine-tune:
Llama, Qwen2, Gemma3, GPT-2...). Its :class:`HostInfo` is what a gene card records under ``host`` and what
compatibility checks compare: architecture, shapes and a fingerprint of the tokenizer's vocabulary.

Every stage (training, evaluation, routing features, composition, serving) turns a prompt into tokens
with :func:`prompt_ids` / :func:`encode_prompts`: the tokenizer's special tokens (its BOS) are added
unless the text already starts with the BOS token, as a rendered chat template does. A tokenizer without
a pad token (GPT-2's) pads with its end-of-sequence token (:func:`ensure_pad_token`); the pad token is
not part of the fingerprint, so setting one does not change which host a gene fits.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ._digest import dir_digest
from .errors import IncompatibleError, NotFoundError, UsageError

_WEIGHT_SUFFIXES = (".safetensors",)
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
#: ``--dtype`` names and what they load as (``auto``: the dtype the checkpoint was saved in).
DTYPES = ("float32", "bfloat16", "float16", "auto")
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
    """``sha256:<hex>`` of the vocabulary and special tokens: equal iff token ids mean the same thing.

    The pad token is left out: it never reaches the model as text (padded positions are masked), and
    a tokenizer that has none gets one at load time (:func:`ensure_pad_token`).
    """
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    special = {k: str(v) for k, v in sorted(tokenizer.special_tokens_map.items()) if k != "pad_token"}
    blob = json.dumps({"vocab": vocab, "special": special}, sort_keys=True, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def describe_host(path: str | Path, *, repo_id: str | None = None, revision: str | None = None) -> HostInfo:
    """Describe the model directory at ``path`` without loading its weights.

    Args:
        path: a directory with ``config.json``, weights and tokenizer files.
        repo_id: the Hub id to record (default: see :func:`recorded_repo_id`).
        revision: the exact Hub commit; default: the directory's content hash.

    Raises:
        NotFoundError: no model directory at ``path``.
        UsageError: ``repo_id`` is not of the form ``OWNER/NAME``.
    """
    from transformers import AutoConfig, AutoTokenizer

    path = _check_dir(path)
    if repo_id is not None:
        check_repo_id(repo_id, option="--host-repo-id")
    config = AutoConfig.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return HostInfo(
        repo_id=repo_id or recorded_repo_id(path),
        revision=revision or content_hash(path),
        architecture=(config.architectures or [type(config).__name__])[0],
        model_type=config.model_type,
        hidden_size=int(config.hidden_size),
        num_layers=int(config.num_hidden_layers),
        vocab_size=int(config.vocab_size),
        tokenizer_fingerprint=tokenizer_fingerprint(tokenizer),
    )


def check_repo_id(repo_id: str, *, option: str) -> str:
    """``repo_id`` if it is a Hub id (``OWNER/NAME``), else a UsageError naming the ``option`` it came from."""
    if not _REPO_ID.match(repo_id):
        raise UsageError(f"{repo_id!r} is not a Hub repo id.",
                         hint=f"Give it as OWNER/NAME, e.g. {option} Qwen/Qwen2-0.5B.")
    return repo_id


def recorded_repo_id(path: str | Path) -> str:
    """The Hub id a model directory is known by when the caller names none.

    The ``repo_id`` of its ``genehub.json`` (genehub writes one beside the models it makes); else, for a
    snapshot in the Hugging Face cache (``.../models--OWNER--NAME/snapshots/<commit>``), ``OWNER/NAME``;
    else ``local/<folder name>``: a placeholder that says the model has no Hub id (a gene's README then
    says how to record the real one).
    """
    path = Path(path)
    recorded = model_meta(path).get("repo_id")
    if isinstance(recorded, str) and _REPO_ID.match(recorded):
        return recorded
    resolved = path.resolve()
    cached = resolved.parent.parent.name.split("--")
    if resolved.parent.name == "snapshots" and len(cached) == 3 and cached[0] == "models":
        candidate = f"{cached[1]}/{cached[2]}"
        if _REPO_ID.match(candidate):
            return candidate
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", resolved.name).strip("-._") or "model"
    return f"local/{name}"


def is_local_repo_id(repo_id: str) -> bool:
    """Whether ``repo_id`` is the ``local/...`` placeholder of a model folder with no Hub id."""
    return repo_id.startswith("local/")


def torch_dtype(dtype: Any) -> Any:
    """A ``torch.dtype`` (or ``"auto"``) from a name in :data:`DTYPES`, a dtype, or None (float32)."""
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    if dtype not in DTYPES:
        raise UsageError(f"Unknown dtype {dtype!r}.", hint=f"Use one of: {', '.join(DTYPES)}.")
    return getattr(torch, dtype)


def load_tokenizer(path: str | Path) -> Any:
    """The tokenizer of a model directory, with a pad token (see :func:`ensure_pad_token`)."""
    from transformers import AutoTokenizer

    return ensure_pad_token(AutoTokenizer.from_pretrained(_check_dir(path)))


def load_host(path: str | Path, *, dtype: Any = None, device: Any = None) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a model directory, in eval mode.

    Args:
        path: the model directory.
        dtype: a name of :data:`DTYPES` or a ``torch.dtype`` (default float32).
        device: where to put the model (e.g. ``"cuda"``, ``"cuda:1"``, ``"mps"``; default the CPU).

    The tokenizer gets a pad token when it has none (:func:`ensure_pad_token`).
    """
    from transformers import AutoModelForCausalLM

    from ._quiet import quiet_loading

    path = _check_dir(path)
    with quiet_loading():  # no "Loading weights" bar per model
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype(dtype))
    if device is not None:
        model.to(device)
    model.eval()
    return model, load_tokenizer(path)


def ensure_pad_token(tokenizer: Any) -> Any:
    """Give a tokenizer without a pad token (GPT-2's) its end-of-sequence token as pad; returns it.

    Padded positions are masked, so which token fills them does not matter, and the host's
    fingerprint does not include it (:func:`tokenizer_fingerprint`).
    """
    if getattr(tokenizer, "pad_token", None) is None and getattr(tokenizer, "eos_token", None) is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def pad_token_id(tokenizer: Any) -> int:
    """The id padded positions get: the pad token's, else the end-of-sequence token's, else 0."""
    for value in (getattr(tokenizer, "pad_token_id", None), getattr(tokenizer, "eos_token_id", None)):
        if isinstance(value, int):
            return value
    return 0


def prompt_ids(tokenizer: Any, text: str) -> list[int]:
    """The token ids of a prompt as every stage feeds it to the host.

    The tokenizer's special tokens (its BOS, for Llama-style tokenizers) are added unless ``text``
    already starts with the BOS token: a rendered chat template does (SmolLM2's ``<|im_start|>``
    sequences start with none, Gemma's with ``<bos>``, Llama-3's with ``<|begin_of_text|>``), and a
    second BOS would put the model off its training distribution.
    """
    bos = getattr(tokenizer, "bos_token", None)
    add = not (isinstance(bos, str) and bos and text.startswith(bos))
    return list(tokenizer(text, add_special_tokens=add)["input_ids"])


def encode_prompts(tokenizer: Any, prompts: Sequence[str], *, device: Any = None) -> dict[str, Any]:
    """``input_ids`` and ``attention_mask`` of ``prompts`` (:func:`prompt_ids`), left-padded for generation.

    Raises:
        UsageError: no prompts.
    """
    import torch

    if not prompts:
        raise UsageError("No prompts given.", hint="Pass at least one prompt.")
    rows = [prompt_ids(tokenizer, p) for p in prompts]
    width = max(1, max(map(len, rows)))
    ids = torch.full((len(rows), width), pad_token_id(tokenizer), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row):] = torch.tensor(row)
            mask[i, width - len(row):] = 1
    if device is not None:
        ids, mask = ids.to(device), mask.to(device)
    return {"input_ids": ids, "attention_mask": mask}


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


def model_device(model: Any) -> Any:
    """The device of a model's first parameter (where its inputs must go)."""
    return next(model.parameters()).device
