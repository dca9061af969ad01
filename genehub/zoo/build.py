"""Build (or reuse) the zoo: a host, donors that master one skill each, and a heterologous host.

Everything is seeded, and a build is cached under ``cache_dir()/zoo/<preset>-<recipe hash>``: building
twice is instant the second time, and changing the recipe (or the skills) builds anew. Builds are
atomic (written beside, then renamed) and locked, so parallel test workers share one build.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._paths import cache_dir
from .._staging import staged_dir
from ..errors import UsageError, ZooError
from ..hosts import MODEL_META
from . import skills as _skills
from .train import TrainConfig, train

ZOO_FORMAT = 1
MODEL_LICENSE = "apache-2.0"


@dataclass(frozen=True)
class ModelSpec:
    """Shape of a zoo model (a Llama-architecture causal LM)."""

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_position_embeddings: int = 64


@dataclass(frozen=True)
class Preset:
    """A zoo recipe. Steps, not seconds, so a build is reproducible."""

    name: str
    spec: ModelSpec
    host_steps: int
    donor_skills: tuple[str, ...]
    donor_steps: int
    heterologous_steps: int
    lr: float = 3e-3
    seed: int = 0
    heterologous_seed: int = 1234
    n_test: int = 200
    weak_weight: float = 1.0  # sampling weight of the donors' skills in the host's mix (< 1: weaker host)

    def donor_config(self, skill: str, **overrides: Any) -> TrainConfig:
        """How the donor for ``skill`` is fine-tuned from the host (``overrides`` replace fields)."""
        i = self.donor_skills.index(skill)
        return TrainConfig(**{"mixture": {skill: 1.0}, "steps": self.donor_steps, "lr": self.lr / 2, "warmup": 20,
                              "seed": self.seed + 1 + i, **overrides})

    def recipe_hash(self) -> str:
        templates = {n: (s.templates, s.heldout) for n, s in _skills.SKILLS.items()}
        recipe = asdict(self)
        # Fields added after the first release count only when set, so existing caches stay valid.
        for name, default in _OPTIONAL_FIELDS.items():
            if recipe.get(name) == default:
                recipe.pop(name)
        blob = json.dumps({"format": ZOO_FORMAT, "preset": recipe, "skills": templates}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


_OPTIONAL_FIELDS = {"weak_weight": 1.0}

PRESETS: dict[str, Preset] = {
    "tiny": Preset("tiny", ModelSpec(64, 2, 4, 128), host_steps=600, donor_skills=("sort", "upper"),
                   donor_steps=300, heterologous_steps=400),
    "demo": Preset("demo", ModelSpec(128, 4, 4, 256), host_steps=1200, donor_skills=("sort", "reverse"),
                   donor_steps=400, heterologous_steps=600, n_test=300, weak_weight=0.3),
}


@dataclass
class Zoo:
    """A built zoo. Paths point at ``save_pretrained`` directories that plain transformers loads."""

    root: Path
    preset: str
    host: Path
    donors: dict[str, Path]
    heterologous: Path
    manifest: dict[str, Any] = field(repr=False)

    @property
    def accuracies(self) -> dict[str, dict[str, float]]:
        """``{model name: {skill: test accuracy}}`` measured when the zoo was built."""
        return self.manifest["accuracies"]

    def test_sets(self, names: tuple[str, ...] | None = None, *, split: str = "test") -> dict[str, Any]:
        """Each skill's split (default: the host's skills), as ``datasets.Dataset``s."""
        n = self.manifest["n_test"]
        return {s: _skills.skill_dataset(s, n_train=n, n_validation=n, n_test=n)[split]
                for s in (names or _skills.HOST_SKILLS)}


def _new_model(spec: ModelSpec, tokenizer: Any, seed: int) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_heads,
        intermediate_size=spec.intermediate_size,
        max_position_embeddings=spec.max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def _save(model: Any, tokenizer: Any, path: Path, meta: dict[str, Any]) -> None:
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / MODEL_META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def train_donor(host: str | Path, skill: str, out: str | Path, *, steps: int = 300, lr: float = 1.5e-3,
                seed: int = 1, layers: tuple[int, ...] | None = None, repo_id: str | None = None) -> Path:
    """Fine-tune the host at ``host`` on one skill and save the donor to ``out``.

    Args:
        layers: train only these decoder layers (the rest frozen), to make a donor whose change lives
            at known layers.
    """
    from ..hosts import load_host

    model, tokenizer = load_host(host)
    losses = train(model, tokenizer, TrainConfig(mixture={skill: 1.0}, steps=steps, lr=lr, seed=seed,
                                                 warmup=20, layers=layers))
    out = Path(out)
    meta = {"repo_id": repo_id or f"local/donor-{skill}", "role": "donor", "skill": skill,
            "license": MODEL_LICENSE, "parent": str(host), "layers": list(layers) if layers else None,
            "final_loss": losses[-1] if losses else None}
    _save(model, tokenizer, out, meta)
    return out


def build(preset: str = "tiny", *, out: str | Path | None = None, force: bool = False,
          progress: bool = True) -> Zoo:
    """Build the zoo for ``preset`` (or reuse the cached build) and return it.

    Args:
        preset: ``"tiny"`` (tests; well under a minute on 2 cores) or ``"demo"`` (a few minutes).
        out: where to build; default ``cache_dir()/zoo/<preset>-<recipe hash>``.
        force: rebuild even when a finished build is there.
        progress: show progress bars.

    Raises:
        UsageError: for an unknown preset.
    """
    from filelock import FileLock

    if preset not in PRESETS:
        raise UsageError(f"Unknown zoo preset {preset!r}.", hint=f"Choose one of: {', '.join(PRESETS)}.")
    recipe = PRESETS[preset]
    root = Path(out) if out else cache_dir() / "zoo" / f"{preset}-{recipe.recipe_hash()}"
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):
        if force and root.exists():
            shutil.rmtree(root)
        if not _finished(root, recipe):
            with staged_dir(root) as tmp:
                _build_into(tmp, recipe, progress=progress)
    return load(root)


def _finished(root: Path, recipe: Preset) -> bool:
    manifest = root / "zoo.json"
    if not manifest.is_file():
        return False
    try:
        return json.loads(manifest.read_text()).get("recipe_hash") == recipe.recipe_hash()
    except json.JSONDecodeError:
        return False


def load(root: str | Path) -> Zoo:
    """Open a zoo built earlier at ``root``."""
    root = Path(root)
    manifest_path = root / "zoo.json"
    if not manifest_path.is_file():
        raise ZooError(f"{root} holds no finished zoo (no zoo.json).",
                       hint="Build one with `genehub zoo build --preset tiny`.")
    manifest = json.loads(manifest_path.read_text())
    return Zoo(root=root, preset=manifest["preset"], host=root / "host",
               donors={s: root / f"donor-{s}" for s in manifest["donor_skills"]},
               heterologous=root / "heterologous", manifest=manifest)


def _build_into(root: Path, recipe: Preset, *, progress: bool) -> None:
    from tqdm.auto import tqdm

    from ..evaluate import skill_accuracies
    from .tokenizer import build_tokenizer

    root.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    tests = {s: _skills.skill_dataset(s, n_train=1, n_validation=1, n_test=recipe.n_test)["test"]
             for s in _skills.HOST_SKILLS}
    name = recipe.name
    timings: dict[str, float] = {}
    accuracies: dict[str, dict[str, float]] = {}
    host_mix = {s: recipe.weak_weight if s in recipe.donor_skills else 1.0 for s in _skills.HOST_SKILLS}
    stages = 2 + len(recipe.donor_skills)
    overall = tqdm(total=stages, desc=f"zoo[{name}]", disable=None if progress else True)  # None: on a TTY only

    def stage(label: str, model: Any, config: TrainConfig, meta: dict[str, Any]) -> Any:
        start = time.perf_counter()
        train(model, tokenizer, config, progress=f"{label}" if progress else None)
        timings[label] = round(time.perf_counter() - start, 2)
        accuracies[label] = {k: round(v, 4) for k, v in skill_accuracies(model, tokenizer, tests).items()}
        _save(model, tokenizer, root / label, meta)
        overall.update(1)
        return model

    host = _new_model(recipe.spec, tokenizer, recipe.seed)
    stage("host", host, TrainConfig(mixture=host_mix, steps=recipe.host_steps, lr=recipe.lr, seed=recipe.seed),
          {"repo_id": f"genehub-zoo/{name}-host", "role": "host", "license": MODEL_LICENSE})
    for skill in recipe.donor_skills:
        donor = copy.deepcopy(host)
        stage(f"donor-{skill}", donor, recipe.donor_config(skill),
              {"repo_id": f"genehub-zoo/{name}-donor-{skill}", "role": "donor", "skill": skill,
               "license": MODEL_LICENSE, "parent": f"genehub-zoo/{name}-host"})
    # Same architecture and width, its own seed and data order: an unrelated basis.
    hetero = _new_model(recipe.spec, tokenizer, recipe.heterologous_seed)
    stage("heterologous", hetero,
          TrainConfig(mixture=host_mix, steps=recipe.heterologous_steps, lr=recipe.lr, seed=recipe.heterologous_seed),
          {"repo_id": f"genehub-zoo/{name}-heterologous", "role": "heterologous", "license": MODEL_LICENSE})
    overall.close()
    manifest = {
        "format": ZOO_FORMAT, "preset": name, "recipe_hash": recipe.recipe_hash(), "recipe": asdict(recipe),
        "donor_skills": list(recipe.donor_skills), "n_test": recipe.n_test,
        "params": sum(p.numel() for p in host.parameters()), "train_seconds": timings,
        "accuracies": accuracies,
    }
    (root / "zoo.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
