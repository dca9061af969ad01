"""Adopt a plain PEFT LoRA made elsewhere as a gene: measure it on the user's data and give it a card.

Someone fine-tuned a LoRA for the host with their own tools; genehub did not make it, so there is no
donor and no located circuit. What the card can still say, measured here: the skill's score for the
bare host and the host with the adapter on the data's test rows (the donor's is null), the effect on the
general prompts and other skills, the layers and modules the adapter touches, and the homology of the
host with and without the adapter over those layers. Its parents are the host and the adapter itself
(role ``adapter``, pinned by the digest of its files). The result is a gene like any other: it can be
signed, pushed, pulled and composed.

    >>> adopt("my-lora", "my-host", "skill.jsonl", "genes/mine", AdoptConfig(scorer="exact"), general="general.jsonl")
    PosixPath('genes/mine')
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import ExtractionError, IncompatibleError, NotFoundError, UsageError
from ._data import RowFormat, SkillLibrary, contrast_pairs, library_rows, load_general, load_skill_data, other_skills

log = logging.getLogger(__name__)

_ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


@dataclass
class AdoptConfig:
    """How to wrap an adapter as a gene.

    Attributes:
        name, skill, version, summary: the card's identity (defaults from the skill's name).
        license: SPDX licence of the host and the adapter when their folders do not say.
        data_use: the card's ``data_use.restrictions``.
        host_repo_id: the host's Hub id (default: :func:`genehub.hosts.recorded_repo_id`).
        adapter_repo_id: where the adapter came from (default ``local/<its folder name>``).
        scorer: how the skill is scored (see :class:`genehub.lorafy.ExtractConfig`).
        prompt_column, completion_column, chat: how the data's rows read (:class:`RowFormat`).
        other_skills: skills of ``library`` to report (None: the library's default).
        n_other, n_circuit, n_examples, general_tokens: test rows per other skill, contrast pairs for
            homology, train prompts written to examples.jsonl, tokens of the host's continuation compared.
        dtype, device: how the host loads.
        seed: seeds the 80/10/10 split of data without a ``split`` column.
    """

    name: str | None = None
    skill: str | None = None
    version: str = "0.1.0"
    summary: str | None = None
    license: str | None = None
    data_use: tuple[str, ...] = ()
    host_repo_id: str | None = None
    adapter_repo_id: str | None = None
    scorer: str | None = None
    prompt_column: str | None = None
    completion_column: str | None = None
    chat: bool = False
    other_skills: tuple[str, ...] | None = None
    n_other: int = 500
    n_circuit: int = 64
    n_examples: int = 64
    general_tokens: int = 32
    dtype: str | None = None
    device: str | None = None
    seed: int = 0


def _adapter_config(adapter: Path) -> dict[str, Any]:
    if not (adapter / "adapter_config.json").is_file():
        raise NotFoundError(f"{adapter} is not a PEFT adapter folder (no adapter_config.json).",
                            hint="Pass the folder a PeftModel's save_pretrained wrote.", path=str(adapter))
    if not (adapter / "adapter_model.safetensors").is_file():
        raise NotFoundError(f"{adapter} has no adapter_model.safetensors (genehub never loads pickled weights).",
                            hint="Save the adapter with save_pretrained(dir, safe_serialization=True).", path=str(adapter))
    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    if not isinstance(config, dict) or str(config.get("peft_type", "")).upper() != "LORA":
        raise UsageError(f"{adapter} holds a {config.get('peft_type') if isinstance(config, dict) else '?'} adapter, "
                         "not a LoRA.", hint="A gene is a LoRA adapter: wrap a LoRA.")
    return config


def _license(path: Path, fallback: str | None, what: str) -> str:
    from ..hosts import model_license

    found = model_license(path) or fallback
    if found:
        return found
    raise ExtractionError(f"The {what} ({path}) does not say under which licence it is published.",
                          hint="Pass --license SPDX (e.g. --license Apache-2.0).")


def _load(model: Any, adapter: Path, host_id: str) -> Any:
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, str(adapter)).eval()
    except (RuntimeError, ValueError, KeyError) as err:  # size mismatch, target modules not found
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise IncompatibleError(f"The adapter {adapter} does not fit host {host_id}: {first[:300]}",
                                reasons=[first], hint="Wrap an adapter trained on this host (same architecture "
                                                      "and shapes), or pass the host it was made for.") from None


def adopt(adapter: str | Path, host: str | Path, skill_data: Any, out: str | Path,
          config: AdoptConfig | None = None, *, library: SkillLibrary | None = None, general: Any = None) -> Path:
    """Wrap the PEFT LoRA at ``adapter`` as a gene for ``host``, measured on ``skill_data``.

    Args:
        adapter: a PEFT LoRA folder (``adapter_config.json`` and ``adapter_model.safetensors``).
        host: the model folder the adapter was trained on.
        skill_data: the skill's data (as :func:`genehub.lorafy.extract` takes it).
        out: the gene directory to write (replaced if it exists).
        config: options (:class:`AdoptConfig`).
        library: other skills to report (e.g. ``genehub.zoo.LIBRARY``; default none).
        general: general prompts, reported as ``general`` (agreement with the bare host) and used as
            the homology contrast.

    Returns:
        ``out``: an unsigned gene whose card's donor fidelity is null and whose parents are the host and
        the adapter.

    Raises:
        NotFoundError: no adapter (or only pickled weights) at ``adapter``.
        IncompatibleError: the adapter does not load on the host (other modules or shapes).
        ExtractionError: the licences are unknown or forbid a derivative.
    """
    import torch

    from .._digest import dir_digest
    from .._version import __version__
    from ..evaluate import get_scorer
    from ..gene import SCHEMA_VERSION, write_gene
    from ..hosts import check_repo_id, describe_host, load_host, load_tokenizer
    from ..licenses import combine
    from ._model import block_linears
    from .fidelity import measure_fidelity
    from .homology import compare, reading_vectors

    config = config or AdoptConfig()
    adapter, host, out = Path(adapter), Path(host), Path(out)
    lora = _adapter_config(adapter)
    scorer = get_scorer(config.scorer)
    fmt = RowFormat(config.prompt_column, config.completion_column, config.chat)
    tokenizer = load_tokenizer(host)
    skill = load_skill_data(skill_data, name=config.skill, library=library, tokenizer=tokenizer, fmt=fmt,
                            seed=config.seed)
    library = library if library is not None else skill.library
    general_data = None
    if general is not None:
        general_data = load_general(general, tokenizer=tokenizer, chat=config.chat, seed=config.seed)
    host_info = describe_host(host, repo_id=config.host_repo_id)
    adapter_id = check_repo_id(config.adapter_repo_id, option="--adapter-repo-id") if config.adapter_repo_id \
        else describe_adapter_id(adapter)
    licenses = {"host": _license(host, config.license, "host"), "adapter": _license(adapter, config.license, "adapter")}
    verdict = combine(licenses)
    if verdict.effective is None:
        raise ExtractionError("The licences do not allow this gene: " + "; ".join(verdict.problems) + ".",
                              hint="Wrap an adapter whose licence and the host's allow derivative works.")
    torch.manual_seed(config.seed)
    model, _ = load_host(host, dtype=config.dtype, device=config.device)
    owners = block_linears(model)  # {qualified name: (layer, kind)}, before PEFT wraps the layers
    gene_model = _load(model, adapter, host_info.repo_id)
    adapted = [name.removeprefix("base_model.model.") for name, module in gene_model.named_modules()
               if "default" in getattr(module, "lora_A", {})]
    layers = sorted({owners[n][0] for n in adapted if n in owners})
    modules = sorted({n.rsplit(".", 1)[-1] for n in adapted})
    others = other_skills(skill, library, config.other_skills) if library is not None else ()

    # Homology of the host with and without the adapter, where the adapter acts.
    skill_prompts, contrast, source = contrast_pairs(
        skill, config.n_circuit, library=library, others=others or (library.general if library is not None else ()),
        general=general_data, seed=config.seed)
    with_adapter = reading_vectors(gene_model, tokenizer, skill_prompts, contrast)
    with gene_model.disable_adapter():
        bare = reading_vectors(gene_model, tokenizer, skill_prompts, contrast)
    homology = compare(with_adapter, bare, layers=layers or None)
    homology.method = "repe-pca-cosine:host+adapter-vs-host"

    general_test = [r["prompt"] for r in general_data.rows("test", config.n_other)] if general_data is not None else []
    fidelity = measure_fidelity(gene_model, tokenizer, skill.rows("test"), donor=None,
                                other_tests=library_rows(library, others, "test", config.n_other) if others else {},
                                scorer=scorer, general=general_test, general_tokens=config.general_tokens)
    log.info("adopted %s: host %.3f, gene %.3f", adapter, fidelity.host, fidelity.gene)

    name = config.name or f"{skill.name}-gene"
    rank, alpha = int(lora.get("r", 8)), float(lora.get("lora_alpha", lora.get("r", 8)))
    card = {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "version": config.version,
        "summary": config.summary or f"Adds the '{skill.name}' skill to {host_info.repo_id} (a LoRA made elsewhere).",
        "description": (f"A LoRA adapter for {host_info.repo_id} from {adapter_id}, made outside genehub and wrapped "
                        f"as a gene: its fidelity was measured by genehub on the skill's test data (no donor), on "
                        f"layers {layers} and modules {', '.join(modules)}."),
        "skill": skill.name,
        "host": host_info.to_dict(),
        "parents": [
            {"role": "host", "repo_id": host_info.repo_id, "revision": host_info.revision, "license": licenses["host"]},
            {"role": "adapter", "repo_id": adapter_id, "revision": dir_digest(adapter, _ADAPTER_FILES),
             "license": licenses["adapter"]},
        ],
        "circuit": {"method": "adapter", "layers": layers, "modules": modules, "components": []},
        "homology": homology.to_card(),
        "fidelity": fidelity.to_card(),
        "adapter": {"type": "lora", "rank": rank, "alpha": alpha, "target_modules": modules, "layers": layers,
                    "size_bytes": 0},
        "license": {"spdx": verdict.effective, "rule": verdict.rule},
        "data_use": {"restrictions": list(config.data_use)},
        "lineage": {"recipe": "genehub.lorafy.adopt", "hyperparameters": {"rank": rank, "alpha": alpha},
                    "seed": config.seed, "genehub_version": __version__,
                    "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")},
        "files": {},
        "extra": {"lorafy": {
            "adopted_from": {"base_model_name_or_path": lora.get("base_model_name_or_path"),
                             "target_modules": lora.get("target_modules")},
            "adapted_modules": adapted, "homology_contrast": source,
            "fidelity_by_template": fidelity.by_template,
            "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
            **({"general_metric": f"agreement with the bare host's greedy continuation (up to "
                                  f"{config.general_tokens} tokens)"} if general_test else {}),
        }},
    }
    rows = [r for r in skill.rows("train") if not r.get("heldout", False)][: config.n_examples]
    examples = [{"prompt": r["prompt"], "answer": r["answer"], "text": r["text"]} for r in rows]
    return write_gene(out, peft_model_or_adapter_dir=adapter, card=card, examples=examples)


def describe_adapter_id(adapter: str | Path) -> str:
    """``local/<folder name>``: the placeholder id of an adapter folder with no Hub id."""
    import re

    name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(adapter).resolve().name).strip("-._") or "adapter"
    return f"local/{name}"
