"""The router: a linear head on the bare host's own hidden states that picks a gene (or none) per prompt.

After LoraRetriever: each gene's ``examples.jsonl`` is its class, other genes' examples are its negatives,
and the host's general prompts are the ``none`` class. Features are pooled hidden states of an early
layer of the bare host (see :mod:`genehub.routing.features`), so no second model is loaded; training
the head is a few hundred full-batch steps (seconds), and adding or removing a gene never touches the host.

    >>> router = Router.train(zoo.host, [gene_sort, gene_upper], none_prompts=zoo.none_prompts)
    >>> router.save("routers/sort-upper")
    >>> Router.load("routers/sort-upper").route(model, tokenizer, ["sort cab:"])[0].gene
    'sort-gene'
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from .._resources import schema_path
from ..errors import CardValidationError, NotFoundError, RouterError, UsageError
from ..gene import Gene
from ..hosts import HostInfo, describe_host, load_host, require_compatible
from .config import RouterConfig
from .features import host_features
from .genes import NONE, load_genes

SCHEMA_FILE = "router.schema.json"
SCHEMA_VERSION = "1.0"
CONFIG = "router.json"
WEIGHTS = "router.safetensors"
SIGNATURE = "router.sig"


@dataclass(frozen=True)
class RoutingDecision:
    """Where one prompt goes: a gene name (``None`` for the bare host), its confidence, every class's
    probability and, in top-k mode, the weights of the genes mixed."""

    prompt: str
    gene: str | None
    confidence: float
    probabilities: dict[str, float]
    weights: dict[str, float] = field(default_factory=dict)


def _digest(labelled: Sequence[tuple[str, str]]) -> str:
    blob = json.dumps(sorted(labelled), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


#: Prompts for which no gene should be expressed, or a function from the genes' skills (and the router's
#: seed) to such prompts, called again whenever a gene is added (e.g. :func:`genehub.zoo.none_prompts`).
NonePrompts = Sequence[str] | Callable[..., Sequence[str]]


def _none_prompts(none_prompts: NonePrompts | None, skills: Sequence[str], seed: int) -> list[str]:
    if none_prompts is None:
        raise UsageError("A router needs prompts for which no gene should be expressed (none_prompts).",
                         hint="Pass none_prompts= what the host already does alone, e.g. genehub.zoo.none_prompts "
                              "for a zoo host.")
    prompts = none_prompts(list(skills), seed=seed) if callable(none_prompts) else none_prompts
    return [str(p) for p in prompts]


def _gene_entry(name: str, gene: Gene) -> dict[str, Any]:
    """What ``router.json`` records of one gene: its adapter name, skill, exact revision and repo id."""
    extra = gene.card.get("extra")
    return {"name": name, "skill": gene.skill, "revision": gene.digest,
            "repo_id": extra.get("repo_id") if isinstance(extra, dict) else None}


def _fit_head(x: torch.Tensor, y: torch.Tensor, n_classes: int, *, steps: int, lr: float, weight_decay: float,
              seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    head = torch.nn.Linear(x.shape[1], n_classes)
    counts = torch.bincount(y, minlength=n_classes).float().clamp(min=1)
    loss_fn = torch.nn.CrossEntropyLoss(weight=counts.sum() / (n_classes * counts))  # balanced classes
    optim = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    with torch.enable_grad():
        for _ in range(steps):
            optim.zero_grad()
            loss_fn(head(x), y).backward()
            optim.step()
    return head.weight.detach().clone(), head.bias.detach().clone()


@dataclass
class Router:
    """A trained router: which host and genes it was made for, and its linear head.

    Attributes:
        host: the host whose features it reads.
        genes: ``{"name", "skill", "revision", "repo_id"}`` per gene, in class order.
        classes: gene names then ``"none"``.
        threshold: below this top probability, nothing is expressed.
        layer, pooling: where the features come from (see :func:`host_features`).
        mean, std, weight, bias: feature standardisation and the head (``classes x dim``).
        training, accuracy: provenance (data digest, counts, seconds) and measured accuracy.
    """

    host: HostInfo
    genes: list[dict[str, Any]]
    classes: list[str]
    threshold: float
    layer: int
    pooling: str
    mean: torch.Tensor
    std: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    training: dict[str, Any] = field(default_factory=dict)
    accuracy: dict[str, Any] = field(default_factory=dict)

    # ----------------------------------------------------------------------------------------- training
    @classmethod
    def train(
        cls,
        host: str | Path | HostInfo,
        genes: Sequence[str | Path | Gene],
        config: RouterConfig | None = None,
        *,
        none_prompts: NonePrompts | None = None,
        model: Any | None = None,
        tokenizer: Any | None = None,
        eval_rows: Sequence[Mapping[str, str]] | None = None,
        **options: Any,
    ) -> Router:
        """Train a router for ``genes`` on ``host``.

        Args:
            host: the host directory (or its ``HostInfo`` together with ``model`` and ``tokenizer``).
            genes: gene directories (or loaded :class:`~genehub.gene.Gene` objects); each one's
                ``examples.jsonl`` is its class.
            config: the training options (:class:`~genehub.routing.RouterConfig`; default its defaults).
            none_prompts: the "none" class: prompts the host answers without a gene, or a function
                ``f(skills, seed=seed)`` of the genes' skills that returns them (e.g.
                :func:`genehub.zoo.none_prompts`: every zoo host skill no gene covers). Required: what
                "no gene" means depends on the host.
            model, tokenizer: the host already loaded (bare or a ``PeftModel``), to skip loading it.
            eval_rows: optional ``{"prompt", "label"}`` rows (labels are class names; e.g. prompts
                with templates no gene saw) measured as ``accuracy["heldout"]``.
            **options: fields of ``config`` to replace (``layer=1``, ``threshold=0.3``, ``seed=2``...).

        Returns:
            The trained router.

        Raises:
            UsageError: no genes, duplicate gene names, a gene without examples, no none_prompts, or an
                unknown option.
            IncompatibleError: a gene was made for another host.
        """
        config = (config or RouterConfig()).with_options(options)
        layer, pooling, threshold, seed = config.layer, config.pooling, config.threshold, config.seed
        steps, lr, weight_decay = config.steps, config.lr, config.weight_decay
        start = time.perf_counter()
        by_name = load_genes(genes, what="A router")
        names = list(by_name)
        if isinstance(host, HostInfo):
            if model is None or tokenizer is None:
                raise UsageError("Router.train got a HostInfo without the loaded model and tokenizer.",
                                 hint="Pass the host directory, or model= and tokenizer= too.")
            host_info = host
        else:
            host_info = describe_host(host)
            if model is None or tokenizer is None:
                model, tokenizer = load_host(host)
        for name, gene in by_name.items():
            require_compatible(gene.host, host_info, what=f"gene {name}")
        classes = [*names, NONE]
        labelled: list[tuple[str, str]] = []
        for name, gene in by_name.items():
            rows = gene.examples()
            if not rows:
                raise UsageError(f"Gene {name} has no examples.", hint="Rewrite it with examples.")
            labelled += [(name, str(r["prompt"])) for r in rows]
        none = _none_prompts(none_prompts, [g.skill for g in by_name.values()], seed)
        labelled += [(NONE, p) for p in none]
        if layer is None:
            layer = max(1, round(0.75 * int(host_info.num_layers)))

        rng = random.Random(seed)
        by_class: dict[str, list[str]] = {c: [] for c in classes}
        for label, prompt in labelled:
            by_class[label].append(prompt)
        train_set, val_set = [], []
        for label, prompts in by_class.items():
            prompts = prompts[:]
            rng.shuffle(prompts)
            k = int(len(prompts) * config.validation_share)
            val_set += [(label, p) for p in prompts[:k]]
            train_set += [(label, p) for p in prompts[k:]]
        index = {c: i for i, c in enumerate(classes)}
        x = host_features(model, tokenizer, [p for _, p in train_set], layer=layer, pooling=pooling)
        y = torch.tensor([index[label] for label, _ in train_set])
        mean, std = x.mean(0), x.std(0).clamp(min=1e-4)
        weight, bias = _fit_head((x - mean) / std, y, len(classes), steps=steps, lr=lr,
                                 weight_decay=weight_decay, seed=seed)
        router = cls(host=host_info, genes=[_gene_entry(n, g) for n, g in by_name.items()], classes=classes,
                     threshold=threshold,
                     layer=layer, pooling=pooling, mean=mean, std=std, weight=weight, bias=bias)
        accuracy: dict[str, Any] = {"validation": None, "num_validation": len(val_set), "heldout": None,
                                    "num_heldout": 0}
        if val_set:
            accuracy["validation"] = router.evaluate(model, tokenizer, [{"prompt": p, "label": c} for c, p in val_set])
        if eval_rows:
            accuracy["heldout"] = router.evaluate(model, tokenizer, eval_rows)
            accuracy["num_heldout"] = len(eval_rows)
        router.accuracy = accuracy
        router.training = {
            "data_digest": _digest(labelled),
            "num_examples": {c: len(v) for c, v in by_class.items()},
            "steps": steps, "lr": lr, "weight_decay": weight_decay, "seed": seed,
            "seconds": round(time.perf_counter() - start, 3),
        }
        return router

    # ----------------------------------------------------------------------------------------- inference
    def probabilities(self, features: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(n, len(classes))`` for host features."""
        logits = ((features - self.mean) / self.std) @ self.weight.T + self.bias
        return torch.softmax(logits, dim=-1)

    def route(self, model: Any, tokenizer: Any, prompts: Sequence[str], *, top_k: int = 1,
              encoding: dict[str, torch.Tensor] | None = None) -> list[RoutingDecision]:
        """Decide a gene (or none) for each prompt; with ``top_k > 1`` also the weights of the top genes.

        Args:
            encoding: the prompts already tokenized by the caller (reused instead of tokenizing again).
        """
        features = host_features(model, tokenizer, prompts, layer=self.layer, pooling=self.pooling, encoding=encoding)
        return self.decide(prompts, features, top_k=top_k)

    def decide(self, prompts: Sequence[str], features: torch.Tensor, *, top_k: int = 1) -> list[RoutingDecision]:
        """:meth:`route` for prompts whose features (at :attr:`layer`, :attr:`pooling`) are already computed."""
        probs = self.probabilities(features).tolist()  # one conversion for the batch, not one per cell
        return [self._decide(prompt, row, top_k) for prompt, row in zip(prompts, probs, strict=True)]

    def _decide(self, prompt: str, row: list[float], top_k: int) -> RoutingDecision:
        table = {c: round(p, 6) for c, p in zip(self.classes, row)}
        idx = max(range(len(row)), key=row.__getitem__)
        conf, gene = row[idx], self.classes[idx]
        if gene == NONE or conf < self.threshold:
            return RoutingDecision(prompt, None, conf, table)
        weights = {gene: 1.0}
        if top_k > 1:
            top = list(zip(self.classes, row))
            top = sorted(top, key=lambda cp: -cp[1])[:top_k]
            total = sum(p for _, p in top)
            weights = {c: p / total for c, p in top if c != NONE}
        return RoutingDecision(prompt, gene, conf, table, weights)

    def evaluate(self, model: Any, tokenizer: Any, rows: Sequence[Mapping[str, str]]) -> float:
        """Share of ``{"prompt", "label"}`` rows routed to their label (``"none"`` for no gene)."""
        decisions = self.route(model, tokenizer, [r["prompt"] for r in rows])
        hits = [(d.gene or NONE) == r["label"] for d, r in zip(decisions, rows)]
        return sum(hits) / max(len(hits), 1)

    def without(self, name: str) -> Router:
        """This router with gene ``name`` removed: its class is dropped and the softmax renormalises over
        the rest, which is exactly what the head would say among the remaining classes."""
        if name not in self.classes or name == NONE:
            raise RouterError(f"The router has no gene {name!r}.", hint=f"Its genes: {', '.join(self.gene_names)}.")
        keep = [i for i, c in enumerate(self.classes) if c != name]
        other = copy.copy(self)
        other.classes = [self.classes[i] for i in keep]
        other.genes = [g for g in self.genes if g["name"] != name]
        other.weight, other.bias = self.weight[keep].clone(), self.bias[keep].clone()
        return other

    @property
    def gene_names(self) -> list[str]:
        return [g["name"] for g in self.genes]

    # ----------------------------------------------------------------------------------------- files
    def config(self) -> dict[str, Any]:
        """The JSON config (``router.json``) without the file digests."""
        from .._version import __version__

        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "genehub-router",
            "host": self.host.to_dict(),
            "genes": self.genes,
            "classes": self.classes,
            "threshold": self.threshold,
            "features": {"layer": self.layer, "pooling": self.pooling, "dim": int(self.weight.shape[1])},
            "head": {"type": "linear"},
            "training": self.training,
            "accuracy": self.accuracy,
            "genehub_version": __version__,
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def save(self, out_dir: str | Path) -> Path:
        """Write ``router.json`` (schema-valid) and ``router.safetensors`` to ``out_dir``; returns it."""
        from safetensors.torch import save_file

        from ..gene import file_digest

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / SIGNATURE).unlink(missing_ok=True)  # a changed router is no longer what was signed
        tensors = {"mean": self.mean, "std": self.std, "weight": self.weight, "bias": self.bias}
        save_file({k: v.contiguous().float() for k, v in tensors.items()}, str(out_dir / WEIGHTS))
        config = self.config()
        config["files"] = {WEIGHTS: file_digest(out_dir / WEIGHTS)}
        validate_config(config)
        (out_dir / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return out_dir

    @classmethod
    def load(cls, path: str | Path) -> Router:
        """Read a router directory written by :meth:`save` (config validated, weights digest checked)."""
        from safetensors.torch import load_file

        from ..errors import VerificationError
        from ..gene import file_digest

        path = Path(path)
        if not (path / CONFIG).is_file() or not (path / WEIGHTS).is_file():
            raise NotFoundError(f"{path} is not a router (needs {CONFIG} and {WEIGHTS}).",
                                hint="Train one with `genehub router train --host H --genes G... --out DIR`.",
                                path=str(path))
        config = json.loads((path / CONFIG).read_text(encoding="utf-8"))
        validate_config(config, source=str(path / CONFIG))
        if file_digest(path / WEIGHTS) != config["files"][WEIGHTS]:
            raise VerificationError(f"{path / WEIGHTS} differs from the digest in {CONFIG}.", files=[WEIGHTS],
                                    hint="Get the router again, or retrain it with `genehub router train`.")
        t = load_file(str(path / WEIGHTS))
        return cls(host=HostInfo.from_dict(config["host"]), genes=config["genes"], classes=config["classes"],
                   threshold=config["threshold"], layer=config["features"]["layer"],
                   pooling=config["features"]["pooling"], mean=t["mean"], std=t["std"], weight=t["weight"],
                   bias=t["bias"], training=config["training"], accuracy=config["accuracy"])


def router_schema() -> dict[str, Any]:
    return json.loads(schema_path(SCHEMA_FILE).read_text(encoding="utf-8"))


def validate_config(config: Any, *, source: str = "router config") -> None:
    """Raise :class:`CardValidationError` listing every schema violation and cross-field problem."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(router_schema())
    errors = [("$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path), e.message)
              for e in validator.iter_errors(config)]
    if not errors:
        names = [g["name"] for g in config["genes"]]
        if config["classes"] != [*names, NONE]:
            errors.append(("$.classes", f"must be the gene names then 'none' ({[*names, NONE]})"))
    if errors:
        raise CardValidationError(
            f"{source} is invalid: " + "; ".join(f"{p}: {m}" for p, m in errors[:10]),
            errors=errors, hint="Retrain the router with `genehub router train` (do not edit router.json by hand).")
