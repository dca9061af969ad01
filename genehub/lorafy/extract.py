"""LoRA-fication, end to end: circuit -> homology -> gene (distilled or SVD) -> fidelity -> gene directory.

    >>> from genehub.lorafy import ExtractConfig, extract
    >>> extract(z.donors["sort"], z.host, zoo.skill_data("sort"), "genes/sort", ExtractConfig(rank=8, steps=300))
    PosixPath('genes/sort')
    >>> extract("my-donor", "my-host", "skill.jsonl", "genes/mine", ExtractConfig(scorer="exact"),
    ...         general="general.jsonl")      # any causal LM folder, the user's own data
    PosixPath('genes/mine')
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from ..errors import ExtractionError
from ._data import (
    RowFormat,
    SkillData,
    SkillLibrary,
    contrast_pairs,
    interleave,
    library_rows,
    load_general,
    load_skill_data,
    other_skills,
)

log = logging.getLogger(__name__)

Method = Literal["distill", "svd"]
METHODS: tuple[str, ...] = ("distill", "svd")
INITS: tuple[str, ...] = ("svd", "random")


@dataclass
class ExtractConfig:
    """How to extract a gene. Every field has a default that works on the zoo's models; bench/NOTES.md
    records the measurements the defaults were chosen by.

    Attributes:
        method: ``"distill"`` (KL distillation into a LoRA at the circuit) or ``"svd"`` (data-free
            low-rank approximation of the donor-minus-host weights at the circuit).
        target_share: share of the donor's advantage the circuit must restore (activation patching).
        modules: keep only these linear layers inside the circuit's blocks (e.g. ``("q_proj", "v_proj")``);
            None adapts every linear layer of each selected attention/MLP block.
        layers: adapt the attention and MLP blocks of these decoder layers instead of the located circuit
            (which is still located and recorded): fewer layers disturb other skills less but recover
            less of the skill.
        rank, alpha: LoRA rank and alpha.
        init: how the distilled LoRA starts: ``"svd"`` (the truncated SVD of the donor-minus-host weights
            on the circuit's modules, the ``svd`` method's gene, then distilled) or ``"random"`` (PEFT's
            init: B = 0, so the gene starts as the host).
        lam: weight of the preservation term KL(host || host+gene) on other skills' prompts.
        steps, lr, batch_size: distillation schedule. For the same number of training rows, fewer and
            larger batches recover more of the donor's gain than many small ones.
        other_skills: skills of the library the gene must leave alone (preservation data, contrast
            prompts and the fidelity table); None: the library's default (for the zoo, every host skill
            except this one). Without a library there are none; general prompts (``general=``) are
            preserved and reported either way.
        scorer: how the fidelity table scores a row: None (teacher-forced exact match of the answer
            and the stop after it), ``"exact"``, ``"contains"``, ``"regex:PATTERN"`` or
            ``"module:function"`` (see :func:`genehub.evaluate.get_scorer`); the card records it.
        prompt_column, completion_column, chat: how the data's rows read (:class:`RowFormat`).
        n_circuit: validation prompts for circuit location, homology and the causal check.
        n_other: test rows per other skill for the fidelity table (about half written with held-out
            templates; enough that one prompt moves a figure by well under a point).
        n_preserve: train rows per other skill for the preservation term: from too few distinct words
            the gene keeps the host's answers on those words only.
        n_general: general train prompts (with the bare host's continuation) in the preservation term.
        general_tokens: tokens of the bare host's continuation of a general prompt that the gene must
            keep (preservation and the fidelity table's ``general`` row).
        n_examples: train prompts written to examples.jsonl for the router.
        name, skill, version, summary: the card's identity (defaults from the skill's name).
        license: SPDX licence of both parents when their folders do not say (the zoo's do).
        data_use: the card's ``data_use.restrictions``.
        host_repo_id, donor_repo_id: Hub ids to record (default: :func:`genehub.hosts.recorded_repo_id`).
        dtype, device: how the models are loaded (:func:`genehub.hosts.load_host`; default float32, CPU).
        seed: seeds everything.
        progress: print stage lines and a progress bar to stderr.
    """

    method: Method = "distill"
    target_share: float = 0.95
    modules: tuple[str, ...] | None = None
    layers: tuple[int, ...] | None = None
    rank: int = 16
    alpha: float = 32.0
    init: Literal["svd", "random"] = "random"
    lam: float = 2.0
    steps: int = 750
    lr: float = 1e-2
    batch_size: int = 128
    other_skills: tuple[str, ...] | None = None
    n_circuit: int = 64
    n_other: int = 500
    n_preserve: int = 8000
    scorer: str | None = None
    prompt_column: str | None = None
    completion_column: str | None = None
    chat: bool = False
    n_general: int = 256
    general_tokens: int = 32
    n_examples: int = 64
    name: str | None = None
    skill: str | None = None
    version: str = "0.1.0"
    summary: str | None = None
    license: str | None = None
    data_use: tuple[str, ...] = ()
    host_repo_id: str | None = None
    donor_repo_id: str | None = None
    dtype: str | None = None
    device: str | None = None
    seed: int = 0
    progress: bool = False


def _say(config: ExtractConfig, message: str) -> None:
    log.info(message)
    if config.progress:
        print(f"[extract] {message}", file=sys.stderr, flush=True)


def _model_license(path: Path, fallback: str | None) -> str:
    from ..hosts import model_license

    found = model_license(path) or fallback
    if found:
        return found
    raise ExtractionError(f"{path} does not say under which licence it is published.",
                          hint="Pass --license SPDX (e.g. --license Apache-2.0) for the parents.")


def _examples(skill: SkillData, n: int) -> list[dict[str, str]]:
    rows = [r for r in skill.rows("train") if not r.get("heldout", False)]
    return [{"prompt": r["prompt"], "answer": r["answer"], "text": r["text"]} for r in rows[:n]]


def extract(donor: str | Path, host: str | Path, skill_data: Any, out: str | Path,
            config: ExtractConfig | None = None, *, library: SkillLibrary | None = None,
            general: Any = None) -> Path:
    """Extract the donor's skill into a gene for the host and write the gene directory.

    Args:
        donor: folder of a causal LM that has the skill (``save_pretrained`` layout).
        host: folder of the model of the same family that should receive it.
        skill_data: the skill's data (see :func:`genehub.lorafy.load_skill_data`): a ``SkillData`` (e.g.
            ``genehub.zoo.skill_data("sort")``), a ``DatasetDict``, a .jsonl/.csv/.parquet file or a
            dataset folder with prompt/completion or chat ``messages`` rows, or the name of a skill in
            ``library``.
        out: the gene directory to write (replaced if it exists).
        config: options (:class:`ExtractConfig`).
        library: other skills the gene must leave alone and is contrasted with (default: the library
            ``skill_data`` came from, e.g. ``genehub.zoo.LIBRARY``; none for the user's own data).
        general: general prompts (any source :func:`genehub.lorafy.load_general` reads, or a list of
            prompts): what the host should keep doing. They enter the preservation term, the contrast
            prompts for homology, and the fidelity table as ``general``, scored by agreement with the
            bare host. Without them and without a library, the gene is distilled without preservation
            and homology contrasts the skill's prompts with its answers (recorded in the card).

    Returns:
        ``out`` as a Path: an unsigned gene (adapter, examples.jsonl, validated gene.json, README.md)
        that ``PeftModel.from_pretrained(host, out)`` loads.

    Raises:
        IncompatibleError: the donor and host are not of one family (shapes, tokenizer).
        ExtractionError: the donor is no better than the host, or the licences forbid a derivative.
        UsageError: data without the columns the options name, or an unknown scorer.
    """
    import torch

    from .._version import __version__
    from ..gene import SCHEMA_VERSION, write_gene
    from ..evaluate import get_scorer, reference_rows
    from ..hosts import describe_host, load_host, load_tokenizer, require_compatible
    from .circuit import locate_circuit
    from .distill import DistillConfig, distill, lora_model
    from .fidelity import measure_fidelity
    from .homology import causal_check, score_homology
    from ._model import block_name, decoder_layers, linear_modules
    from .svd import svd_lora

    config = config or ExtractConfig()
    if config.method not in METHODS:
        raise ExtractionError(f"Unknown extraction method {config.method!r}.", hint=f"Choose one of: {', '.join(METHODS)}.")
    if config.init not in INITS:
        raise ExtractionError(f"Unknown LoRA init {config.init!r}.", hint=f"Choose one of: {', '.join(INITS)}.")
    donor, host, out = Path(donor), Path(host), Path(out)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = round(now - clock, 3)
        clock = now

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
    donor_info = describe_host(donor, repo_id=config.donor_repo_id)
    require_compatible(host_info, donor_info, what="donor")
    from ..licenses import combine

    licenses = {"host": _model_license(host, config.license), "donor": _model_license(donor, config.license)}
    verdict = combine(licenses)
    if verdict.effective is None:
        raise ExtractionError("The parents' licences do not allow this gene: " + "; ".join(verdict.problems) + ".",
                              hint="Use parents whose licences allow derivative works.")
    torch.manual_seed(config.seed)
    host_model, _ = load_host(host, dtype=config.dtype, device=config.device)
    donor_model, _ = load_host(donor, dtype=config.dtype, device=config.device)
    others = other_skills(skill, library, config.other_skills) if library is not None else ()
    lap("load")

    # 1. Where does the skill live?
    val_rows = skill.rows("validation", config.n_circuit)
    circuit = locate_circuit(donor_model, host_model, tokenizer, val_rows, target_share=config.target_share,
                             progress=config.progress)
    lap("circuit")
    _say(config, f"circuit: {', '.join(f'{c.layer}.{c.kind}' for c in circuit.selected)} restores "
                 f"{circuit.restored_share:.0%} of the donor's advantage")

    # 2. Is the host's machinery comparable there?
    skill_prompts, contrast, contrast_source = contrast_pairs(
        skill, config.n_circuit, library=library, others=others or (library.general if library is not None else ()),
        general=general_data, seed=config.seed)
    if contrast_source == "answers":
        _say(config, "no general prompts or other skills: homology contrasts the skill's requests with its answers "
                     "(pass general= / --general for a contrast with what the host should keep doing)")
    homology = score_homology(donor_model, host_model, tokenizer, skill_prompts, contrast, layers=circuit.layers,
                              progress=config.progress)
    homology.causal_check = causal_check(donor_model, host_model, tokenizer, val_rows, circuit.keys,
                                         progress=config.progress)
    lap("homology")
    _say(config, f"homology over the circuit: {homology.aggregate:.3f}; host with the donor's circuit patched in: "
                 f"{homology.causal_check['patched']:.2f} (host {homology.causal_check['host']:.2f})")

    # 3. The gene, only at the circuit's modules (or the layers the user chose).
    keys = circuit.keys
    if config.layers:
        num_layers = len(decoder_layers(host_model))
        bad = [i for i in config.layers if not 0 <= i < num_layers]
        if bad:
            raise ExtractionError(f"Layers {bad} are outside the host's 0..{num_layers - 1}.",
                                  hint=f"Pick layers between 0 and {num_layers - 1}, or leave layers unset.")
        keys = [(i, kind) for i in sorted(set(config.layers)) for kind in ("attn", "mlp")]
    adapted_layers = sorted({i for i, _ in keys})
    module_names = linear_modules(host_model, keys, only=config.modules)
    student = lora_model(host_model, module_names, rank=config.rank, alpha=config.alpha, seed=config.seed)
    hyper: dict[str, Any] = {"method": config.method, "rank": config.rank, "alpha": config.alpha,
                             "target_share": config.target_share, "n_preserve": config.n_preserve}
    if config.layers:
        hyper["layers"] = adapted_layers
    method_extra: dict[str, Any] = {}
    if config.method == "distill":
        if config.init == "svd":
            method_extra.update({f"init_{k}": round(v, 6) for k, v in svd_lora(student, donor_model).items()})
        groups = library_rows(library, others, "train", config.n_preserve) if others else {}
        if general_data is not None and config.n_general > 0:
            prompts = [r["prompt"] for r in general_data.rows("train", config.n_general)]
            with student.disable_adapter():  # the bare host's own continuation is what it should keep doing
                groups["general"] = reference_rows(student, tokenizer, prompts, max_new_tokens=config.general_tokens)
        preserve = interleave(groups)
        dcfg = DistillConfig(rank=config.rank, alpha=config.alpha, lam=config.lam, steps=config.steps,
                             lr=config.lr, batch_size=config.batch_size, seed=config.seed, progress=config.progress)
        losses = distill(student, donor_model, tokenizer, skill.rows("train"), preserve, dcfg)
        hyper.update(init=config.init, lam=config.lam, steps=config.steps, lr=config.lr, batch_size=config.batch_size)
        method_extra |= {"loss_first": round(losses[0], 6) if losses else None,
                        "loss_last": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 6) if losses else None}
    else:
        method_extra = {k: round(v, 6) for k, v in svd_lora(student, donor_model).items()}
    lap("gene")

    # 4. Fidelity on held-out prompts.
    general_test = [r["prompt"] for r in general_data.rows("test", config.n_other)] if general_data is not None else []
    fidelity = measure_fidelity(student, tokenizer, skill.rows("test"), donor=donor_model,
                                other_tests=library_rows(library, others, "test", config.n_other) if others else {},
                                scorer=scorer, general=general_test, general_tokens=config.general_tokens,
                                progress=config.progress)
    lap("fidelity")
    _say(config, f"fidelity: host {fidelity.host:.2f}, donor {fidelity.donor:.2f}, gene {fidelity.gene:.2f}; "
                 f"worst other-skill drop {fidelity.worst_other_drop:.2f}")

    # 5. The gene directory.
    short = sorted({n.rsplit(".", 1)[-1] for n in module_names})
    layer0 = decoder_layers(host_model)[0]
    block_names = {k: block_name(layer0, k) for k in ("attn", "mlp")}
    name = config.name or f"{skill.name}-gene"
    where = "at the layers chosen by the user" if config.layers else "at the circuit found by activation patching"
    card = {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "version": config.version,
        "summary": config.summary or f"Adds the '{skill.name}' skill to {host_info.repo_id}.",
        "description": (f"A LoRA gene carrying the '{skill.name}' skill of {donor_info.repo_id}, "
                        f"{'distilled' if config.method == 'distill' else 'approximated by SVD'} into "
                        f"{host_info.repo_id} {where} (layers {adapted_layers}, modules {', '.join(short)})."),
        "skill": skill.name,
        "host": host_info.to_dict(),
        "parents": [
            {"role": "host", "repo_id": host_info.repo_id, "revision": host_info.revision, "license": licenses["host"]},
            {"role": "donor", "repo_id": donor_info.repo_id, "revision": donor_info.revision,
             "license": licenses["donor"]},
        ],
        "circuit": circuit.to_card(short),
        "homology": homology.to_card(),
        "fidelity": fidelity.to_card(),
        "adapter": {"type": "lora", "rank": config.rank, "alpha": config.alpha, "target_modules": short,
                    "layers": adapted_layers, "size_bytes": 0},
        "license": {"spdx": verdict.effective, "rule": verdict.rule},
        "data_use": {"restrictions": list(config.data_use)},
        "lineage": {"recipe": f"genehub.lorafy.{config.method}", "hyperparameters": hyper, "seed": config.seed,
                    "genehub_version": __version__,
                    "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")},
        "files": {},
        "extra": {"lorafy": {
            "timings_s": timings, "circuit_curve": [round(x, 6) for x in circuit.curve],
            "circuit_selected": [f"{c.layer}.{c.kind}" for c in circuit.selected],
            "logprob_gap_per_prompt": round(circuit.logprob_gap, 6), "blocks": block_names,
            "adapted_modules": module_names, "recovered_share": fidelity.recovered,
            "fidelity_by_template": fidelity.by_template, "recovered_share_seen": fidelity.recovered_on("seen"),
            "other_skills_by_template": fidelity.other_by_template,
            "worst_other_drop_by_template": {g: fidelity.worst_other_drop_on(g) for g in ("seen", "heldout")},
            "homology_sign": "pca_cosine is |cos| (a principal component has no sign); mean_diff_cosine is signed",
            "homology_contrast": contrast_source,
            **({"general_metric": f"agreement with the bare host's greedy continuation (up to "
                                  f"{config.general_tokens} tokens)", "num_general_test_prompts": len(general_test)}
               if general_test else {}),
            "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
            **method_extra,
        }},
    }
    timings["total"] = round(sum(timings.values()), 3)
    path = write_gene(out, peft_model_or_adapter_dir=student, card=card, examples=_examples(skill, config.n_examples))
    _say(config, f"wrote {path} in {timings['total']:.1f}s")
    return path
