"""The real preset: SmolLM2-135M-Instruct as the host, natural-language skills, a LoRA and a donor per skill.

The host is imported once from its PyPI package (:mod:`genehub.importing`); Gemma-3-270M is the
heterologous host (another family: other widths, depth and vocabulary). For each language skill
(:mod:`genehub.zoo.language`) a LoRA is fine-tuned on the host's chat format, the way users' fine-tunes
come; a skill's *donor* is the host with that LoRA merged in, saved as a full model. Both are cached by a
hash of everything that makes them (host digest, skill phrasings, recipe), skill by skill, so changing one
skill's recipe retrains that skill alone. ``metrics.json`` beside each LoRA records the host's and the
LoRA's exact-match accuracy on the skill's test prompts, by phrasing (seen / held out).

    >>> from genehub.zoo import real
    >>> lora = real.skill_lora("roman")          # minutes the first time, then cached
    >>> donor = real.donor("roman")              # host + that LoRA, merged, as a model folder
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._paths import cache_dir
from ..errors import ZooError
from . import language

HOST = "smollm2-135m-instruct"
HETEROLOGOUS = "gemma-3-270m"
LICENSE = "Apache-2.0"  # the host's; a donor fine-tuned from it here carries the same
METRICS = "metrics.json"


@dataclass(frozen=True)
class SkillRecipe:
    """How a skill's LoRA is fine-tuned on the host (and so what its donor is)."""

    rank: int = 16
    alpha: float = 32.0
    layers: tuple[int, ...] = tuple(range(15, 30))
    steps: int = 80
    batch_size: int = 8
    lr: float = 3e-3
    seed: int = 0
    n_train: int = 2048
    n_test: int = 128


@dataclass(frozen=True)
class RealPreset:
    """A real-model zoo: the host, the skills that have a LoRA, and which of them get a full donor."""

    name: str = "smollm2"
    host: str = HOST
    heterologous: str = HETEROLOGOUS
    skills: tuple[str, ...] = tuple(language.SKILLS)
    donor_skills: tuple[str, ...] = ("roman", "date_words")
    recipe: SkillRecipe = field(default_factory=SkillRecipe)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # skill -> SkillRecipe fields

    def recipe_for(self, skill: str) -> SkillRecipe:
        return SkillRecipe(**{**asdict(self.recipe), **self.overrides.get(skill, {})})


#: Skills whose LoRA stayed just under 0.90 exact match at 80 steps get twice as many (exact match at 80 /
#: 160 steps: commas 0.875 / 0.883, hours_to_minutes 0.898 / 0.969, number_words 0.898 / 0.992; add stayed
#: at 0.773 and keeps 80).
LONGER = {"steps": 160}
PRESET = RealPreset(overrides={"commas": LONGER, "hours_to_minutes": LONGER, "number_words": LONGER})


def _skill_hash(host_revision: str, skill: str, recipe: SkillRecipe) -> str:
    spec = language.get_skill(skill)
    blob = json.dumps({"host": host_revision, "skill": skill, "templates": spec.templates, "heldout": spec.heldout,
                       "generator": inspect.getsource(spec.make), "recipe": asdict(recipe)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def extract_config(**overrides: Any) -> Any:
    """How the real preset's genes are extracted from its donors (:class:`genehub.lorafy.ExtractConfig`).

    A rank-8 LoRA at the circuit, started from the SVD of the donor's weight delta there and distilled
    briefly with the bare host's own continuations of general prompts as the preservation term: the
    donors are narrow fine-tunes, so the SVD start carries the skill and the distillation keeps the rest.
    The preservation weight is 10, where the sweep in bench/REPORT.md keeps the bare host's own
    continuations within the target with the gene always on for both demo donors, at a small cost on
    held-out phrasings.
    """
    from ..lorafy import ExtractConfig

    settings: dict[str, Any] = dict(rank=8, alpha=16.0, init="svd", lam=10.0, steps=40, lr=3e-3, batch_size=16,
                                    n_circuit=32, n_other=64, n_general=128, general_tokens=24, license=LICENSE)
    return ExtractConfig(**{**settings, **overrides})


def host_path(preset: RealPreset = PRESET) -> Path:
    """The imported host folder (imported on first use)."""
    from ..importing import import_host

    return import_host(preset.host)


def heterologous_path(preset: RealPreset = PRESET) -> Path:
    """The heterologous host folder (Gemma-3-270M, imported on first use)."""
    from ..importing import import_host

    return import_host(preset.heterologous)


def chat_rows(tokenizer: Any, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Language-skill rows as ``prompt``/``answer``/``text`` in the host's chat format (the generation prompt
    included), rendered the way genehub renders any user's chat rows."""
    from ..lorafy import render_rows

    return render_rows(rows, tokenizer=tokenizer, what="language skill")


def _train_lora(model: Any, tokenizer: Any, rows: list[dict[str, Any]], recipe: SkillRecipe, *,
                label: str) -> list[float]:
    """Fine-tune a fresh LoRA on ``rows`` (loss on the answer tokens); returns the loss per step."""
    import torch
    from tqdm.auto import tqdm

    from ..evaluate import encode_pairs

    torch.manual_seed(recipe.seed)
    rng = random.Random(recipe.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=0.0)
    warmup = max(1, recipe.steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: min(1.0, (s + 1) / warmup) * (
        0.1 + 0.45 * (1 + math.cos(math.pi * s / recipe.steps))))
    base = model.get_base_model()
    decoder, head = base.get_decoder(), base.get_output_embeddings()
    losses: list[float] = []
    model.train()
    for _ in tqdm(range(recipe.steps), desc=label, leave=False):
        batch = encode_pairs(tokenizer, *zip(*[(r["prompt"], r["answer"]) for r in rng.sample(rows, recipe.batch_size)]))
        hidden = decoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        target = batch["labels"][:, 1:]
        scored = target != -100  # logits only where the answer is predicted: the vocabulary is most of the cost
        logits = head(hidden[:, :-1][scored])
        loss = torch.nn.functional.cross_entropy(logits.float(), target[scored])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        sched.step()
        optim.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    return losses


def _accuracy(model: Any, tokenizer: Any, rows: list[dict[str, Any]]) -> dict[str, float]:
    from ..evaluate import exact_match

    hits = exact_match(model, tokenizer, rows, batch_size=64)
    groups = {"all": hits, "seen": [h for h, r in zip(hits, rows) if not r["heldout"]],
              "heldout": [h for h, r in zip(hits, rows) if r["heldout"]]}
    return {k: round(sum(v) / len(v), 4) for k, v in groups.items() if v}


def _linear_names(model: Any) -> list[str]:
    """Short names of the linear layers inside the decoder blocks (``q_proj``... for Llama)."""
    import torch

    blocks = model.get_decoder().layers
    return sorted({name.rsplit(".", 1)[-1] for name, m in blocks.named_modules() if isinstance(m, torch.nn.Linear)})


def skill_lora(skill: str, preset: RealPreset = PRESET) -> Path:
    """The skill's LoRA adapter folder (PEFT), fine-tuned on the host the first time, cached after."""
    import torch
    from filelock import FileLock
    from peft import LoraConfig, get_peft_model

    from ..hosts import content_hash, load_host

    host = host_path(preset)
    recipe = preset.recipe_for(skill)
    out = cache_dir() / "zoo" / preset.name / "skills" / f"{skill}-{_skill_hash(content_hash(host), skill, recipe)}"
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):
        if (out / METRICS).is_file():
            return out
        model, tokenizer = load_host(host)
        splits = language.skill_splits(skill, n_train=recipe.n_train, n_validation=1, n_test=recipe.n_test)
        train_rows, test_rows = chat_rows(tokenizer, splits["train"]), chat_rows(tokenizer, splits["test"])
        host_acc = _accuracy(model, tokenizer, test_rows)
        config = LoraConfig(r=recipe.rank, lora_alpha=recipe.alpha, lora_dropout=0.0, target_modules=_linear_names(model),
                            layers_to_transform=list(recipe.layers), task_type="CAUSAL_LM")
        torch.manual_seed(recipe.seed)
        peft_model = get_peft_model(model, config)
        start = time.perf_counter()
        losses = _train_lora(peft_model, tokenizer, train_rows, recipe, label=f"lora[{skill}]")
        seconds = time.perf_counter() - start
        metrics = {"skill": skill, "recipe": asdict(recipe), "host": host_acc,
                   "lora": _accuracy(peft_model, tokenizer, test_rows), "train_seconds": round(seconds, 1),
                   "loss_first": round(losses[0], 4), "loss_last": round(sum(losses[-10:]) / 10, 4)}
        staging = out.with_name(f".{out.name}.{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        peft_model.save_pretrained(staging)
        (staging / METRICS).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(staging, out)
    return out


def skill_metrics(skill: str, preset: RealPreset = PRESET) -> dict[str, Any]:
    """``metrics.json`` of the skill's LoRA (training it first if needed)."""
    return json.loads((skill_lora(skill, preset) / METRICS).read_text(encoding="utf-8"))


def donor(skill: str, preset: RealPreset = PRESET) -> Path:
    """The skill's donor: the host with the skill's LoRA merged in, saved as a full model folder (cached)."""
    from filelock import FileLock
    from peft import PeftModel

    from ..hosts import load_host

    lora = skill_lora(skill, preset)
    out = cache_dir() / "zoo" / preset.name / "donors" / f"{skill}-{lora.name.rsplit('-', 1)[1]}"
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):
        if (out / "genehub.json").is_file():
            return out
        model, tokenizer = load_host(host_path(preset))
        merged = PeftModel.from_pretrained(model, str(lora)).merge_and_unload()
        staging = out.with_name(f".{out.name}.{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        merged.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        meta = {"repo_id": f"genehub-zoo/smollm2-donor-{skill.replace('_', '-')}", "role": "donor", "skill": skill,
                "license": LICENSE, "parent": json.loads((host_path(preset) / "genehub.json").read_text())["repo_id"],
                "recipe": json.loads((lora / METRICS).read_text())["recipe"]}
        (staging / "genehub.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(staging, out)
    return out


def validate(skills: Sequence[str] | None = None, preset: RealPreset = PRESET) -> list[dict[str, Any]]:
    """Train (or read) every skill's LoRA and return one row per skill: host and LoRA accuracy by phrasing.

    Raises:
        ZooError: never for a weak skill (the row says so); only when the host cannot be imported.
    """
    rows = []
    for skill in skills or preset.skills:
        m = skill_metrics(skill, preset)
        rows.append({"skill": skill, "host": m["host"]["all"], "lora": m["lora"]["all"],
                     "lora_seen": m["lora"]["seen"], "lora_heldout": m["lora"]["heldout"],
                     "train_s": m["train_seconds"]})
    if not rows:
        raise ZooError("No skills to validate.", hint="Pass skill names from `genehub zoo skills`.")
    return rows


# ------------------------------------------------------------------------------------------------ the built zoo
@dataclass
class RealZoo:
    """The real preset, built: the host, the heterologous host, a donor per demo skill, and the data that
    extraction, routing and the demo take as arguments on these models (rendered in the host's chat format).
    """

    preset: RealPreset
    host: Path
    heterologous: Path
    donors: dict[str, Path]
    _tokenizer: Any = field(default=None, repr=False)

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from ..hosts import load_tokenizer

            self._tokenizer = load_tokenizer(self.host)
        return self._tokenizer

    def skill_data(self, skill: str, *, n_train: int | None = None) -> Any:
        """The skill's rendered splits as :func:`genehub.lorafy.extract` takes them (no library: the other
        things a gene must leave alone are the general prompts, :meth:`general`)."""
        from ..lorafy import SkillData

        recipe = self.preset.recipe_for(skill)
        splits = language.skill_splits(skill, n_train=n_train or recipe.n_train, n_validation=64, n_test=recipe.n_test)
        return SkillData(skill, {name: chat_rows(self.tokenizer, rows) for name, rows in splits.items()})

    def general(self, n: int = 384, *, seed: int = 0) -> list[dict[str, Any]]:
        """General chat prompts of the calibration families (``messages`` rows): the preservation term, the
        homology contrast and the fidelity table's ``general`` row in extraction, and the router's "none"."""
        from .general import CALIBRATION_FAMILIES, general_prompts

        return general_prompts(n, families=CALIBRATION_FAMILIES, seed=seed)

    def none_prompts(self, n: int = 256, *, seed: int = 0) -> list[str]:
        """The general prompts rendered as the host reads them (a router's "none")."""
        return [r["prompt"] for r in chat_rows(self.tokenizer, [{**r, "completion": ""} for r in self.general(n, seed=seed)])]

    def general_test(self, n: int = 110, *, seed: int = 1) -> list[dict[str, Any]]:
        """Rendered general prompts of the families no calibration sees (``family`` kept), for testing."""
        from .general import TEST_FAMILIES, general_prompts

        rows = general_prompts(n, families=TEST_FAMILIES, seed=seed)
        return chat_rows(self.tokenizer, [{**r, "completion": ""} for r in rows])

    def test_rows(self, skills: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Each skill's rendered test rows (half in held-out phrasings)."""
        return {s: self.skill_data(s, n_train=1).rows("test") for s in skills}


def build(preset: RealPreset = PRESET, *, donors: Sequence[str] | None = None) -> RealZoo:
    """Import the hosts and make (or reuse) the donors of ``donors`` (default: the preset's demo skills)."""
    chosen = tuple(donors if donors is not None else preset.donor_skills)
    return RealZoo(preset=preset, host=host_path(preset), heterologous=heterologous_path(preset),
                   donors={skill: donor(skill, preset) for skill in chosen})
