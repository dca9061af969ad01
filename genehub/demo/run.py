"""``run_demo``: one function that runs the marketplace end to end and reports what it measured."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._staging import staged_dir
from ..errors import UsageError
from .report import DemoResult, write_outputs

if TYPE_CHECKING:
    from ..lorafy import ExtractConfig

DEMO_KEY = "genehub-demo"
DEMO_OWNER = "genehub-demo"


@dataclass
class DemoConfig:
    """What the demo runs on and where it writes.

    Attributes:
        preset: ``smollm2`` (the real preset: SmolLM2-135M-Instruct imported from its PyPI package, donors
            fine-tuned from it on two language skills, Gemma-3-270M as the heterologous host), ``demo`` (the
            tiny zoo's larger preset) or ``tiny`` (about a minute, for tests).
        out: output folder: the registry, installed genes, keys, report and plots all go here,
            so the demo changes nothing else on the machine (the zoo and extracted genes are cached).
        registry: where genes are pushed: default a local registry in ``out/registry``; any
            ``--registry`` spec genehub accepts (a directory, ``hub``, or a Hub URL) otherwise.
        steps: distillation steps per gene (None: the preset's).
        reuse_genes: reuse genes extracted earlier with the same donor, host and recipe (cached by their
            hash); False extracts them again.
        progress: show progress bars.
    """

    preset: str = "smollm2"
    out: str | Path = "demo-output"
    registry: str | None = None
    steps: int | None = None
    seed: int = 0
    reuse_genes: bool = True
    progress: bool = True


@dataclass
class DemoPlan:
    """What the demo runs on, whatever the preset: the models, the data each stage takes, how genes are made.

    ``tests`` gives, per name, the rows every model is scored on: the donors' skills, and what the host
    must keep doing (the tiny zoo's host skills, or ``general`` prompts scored by agreement with the bare
    host). ``contrast`` is a skill's prompts and general prompts as plain text, read by the host and by the
    heterologous host for the homology comparison.
    """

    preset: str
    host: Path
    heterologous: Path
    donors: dict[str, Path]
    skill_data: Callable[[str], Any]
    general: Any
    none_prompts: Any  # prompts, or a function of the genes' skills (see genehub.routing.Router.train)
    extract: "ExtractConfig"
    tests: Callable[[Any, Any], dict[str, list[dict[str, Any]]]]
    contrast: Callable[[str], tuple[list[str], list[str]]]


def _tiny_plan(config: DemoConfig) -> DemoPlan:
    from .. import zoo as zoo_lib
    from ..lorafy import ExtractConfig
    from ..zoo import HOST_SKILLS

    z = zoo_lib.build(config.preset, progress=config.progress)
    skills = list(z.donors)

    def tests(model: Any, tokenizer: Any) -> dict[str, list[dict[str, Any]]]:
        return {s: list(ds) for s, ds in z.test_sets(tuple(dict.fromkeys([*HOST_SKILLS, *skills]))).items()}

    def contrast(skill: str) -> tuple[list[str], list[str]]:
        rows = zoo_lib.split_rows(skill, "test", 32)
        return [r["prompt"] for r in rows], zoo_lib.none_prompts([skill])[:len(rows)]

    return DemoPlan(preset=config.preset, host=z.host, heterologous=z.heterologous, donors=dict(z.donors),
                    skill_data=zoo_lib.skill_data, general=None, none_prompts=zoo_lib.none_prompts,
                    extract=ExtractConfig(seed=config.seed, progress=config.progress), tests=tests, contrast=contrast)


def _real_plan(config: DemoConfig) -> DemoPlan:
    from ..evaluate import reference_rows
    from ..zoo import real

    z = real.build()
    general_test = z.general_test(64)

    def tests(model: Any, tokenizer: Any) -> dict[str, list[dict[str, Any]]]:
        rows = z.test_rows(list(z.donors))
        refs = reference_rows(model, tokenizer, [r["prompt"] for r in general_test], max_new_tokens=24)
        rows["general"] = [{**ref, "text": r["text"], "heldout": False} for ref, r in zip(refs, general_test)]
        return rows

    def contrast(skill: str) -> tuple[list[str], list[str]]:
        rows = z.test_rows([skill])[skill][:32]
        return [r["text"] for r in rows], [r["text"] for r in general_test[:len(rows)]]

    return DemoPlan(preset=config.preset, host=z.host, heterologous=z.heterologous, donors=dict(z.donors),
                    skill_data=z.skill_data, general=z.general(), none_prompts=z.none_prompts(),
                    extract=real.extract_config(seed=config.seed, progress=config.progress), tests=tests,
                    contrast=contrast)


PRESETS: dict[str, Callable[[DemoConfig], DemoPlan]] = {"smollm2": _real_plan, "demo": _tiny_plan,
                                                         "tiny": _tiny_plan}


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 2)


def _say(message: str) -> None:
    print(f"[genehub demo] {message}", flush=True)


def _gene_cache(plan: DemoPlan, skill: str, extract_config: "ExtractConfig") -> Path:
    """Where the gene of ``skill`` extracted with this donor, host and recipe is cached."""
    from .._paths import cache_dir
    from .._version import __version__
    from ..hosts import content_hash

    recipe = {k: v for k, v in asdict(extract_config).items() if k != "progress"}
    blob = json.dumps({"host": content_hash(plan.host), "donor": content_hash(plan.donors[skill]), "skill": skill,
                       "recipe": recipe, "routing": "default", "genehub": __version__}, sort_keys=True, default=str)
    return cache_dir() / "demo-genes" / plan.preset / f"{skill}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def _extract_gene(plan: DemoPlan, skill: str, out: Path, config: DemoConfig) -> Path:
    """Extract the skill's gene into ``out`` (or copy the one cached for the same donor, host and recipe)."""
    from ..lorafy import extract
    from ..routing.prototypes import route_gene
    from ..zoo import routing_prompts

    extract_config = replace(plan.extract, steps=config.steps or plan.extract.steps)
    cached = _gene_cache(plan, skill, extract_config)
    if config.reuse_genes and (cached / "gene.json").is_file():
        _say(f"reusing the {skill} gene extracted earlier with the same recipe ({cached})")
        if _routing_stale(cached):
            _say(f"giving the {skill} gene the routing block today's recipe makes (the adapter is unchanged)")
            with staged_dir(cached) as tmp:  # a full copy: write_readme rewrites README.md in place
                shutil.rmtree(tmp)
                shutil.copytree(cached, tmp)
                route_gene(tmp, routing_prompts(plan.host), host=plan.host)
    else:
        _say(f"extracting the {skill} gene from donor-{skill} (circuit, homology, distillation)")
        with staged_dir(cached) as tmp:
            extract(plan.donors[skill], plan.host, plan.skill_data(skill), tmp, config=extract_config,
                    general=plan.general)
            # The routing block (prototypes of the gene's examples, calibrated on what the host does alone),
            # signed with the rest of the card: any router reads it, nothing to train when a gene is added.
            route_gene(tmp, routing_prompts(plan.host), host=plan.host)
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(cached, out)
    return out


def _routing_stale(gene_dir: Path) -> bool:
    """Whether a cached gene's routing block was made by an older routing recipe than ``route_gene``'s
    (another slots mode, or no exemplars where the recipe keeps them now)."""
    from ..gene import load_card
    from ..routing.prototypes import DEFAULT_EXEMPLAR_MATCH, EXEMPLARS
    from ..routing.slots import DEFAULT_TEXT

    block = load_card(gene_dir).get("routing") or {}
    encoder = block.get("encoder", {})
    parts = encoder.get("parts", [encoder])
    return any(p.get("text") != DEFAULT_TEXT for p in parts) or ((EXEMPLARS in block) != (DEFAULT_EXEMPLAR_MATCH is not None))


def _none_prompts(plan: DemoPlan, skills: list[str]) -> list[str]:
    """What the host answers without a gene, for genes of ``skills``."""
    none = plan.none_prompts
    return list(none(skills) if callable(none) else none)


def run_demo(config: DemoConfig | None = None) -> DemoResult:
    """Run the demo and write ``report.md``, ``results.json`` and plots into ``config.out``.

    Raises:
        UsageError: for an unknown preset; any GenehubError of a stage, with that stage's advice.
    """
    from ..gene import TrustStore, new_key, sign_gene
    from ..registry import GeneStore, open_registry, pull, push, search
    from ..routing import compose

    config = config or DemoConfig()
    if config.preset not in PRESETS:
        raise UsageError(f"Unknown preset {config.preset!r}.", hint=f"Choose one of: {', '.join(PRESETS)}.")
    out = Path(config.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    clock = _Clock()

    with clock.stage("zoo"):
        _say(f"building or reusing the zoo ({config.preset} preset)")
        plan = PRESETS[config.preset](config)
    skills = list(plan.donors)

    genes_src: dict[str, Path] = {}
    with clock.stage("extract"):
        for skill in skills:
            genes_src[skill] = _extract_gene(plan, skill, out / "genes-built" / skill, config)

    with clock.stage("sign"):
        keys_dir = out / "config" / "keys"
        key = new_key(DEMO_KEY, directory=keys_dir, overwrite=True)
        trust = TrustStore(out / "config" / "trust")
        trust.add(DEMO_KEY, key.public, overwrite=True)
        repo_ids = {skill: f"{DEMO_OWNER}/{skill.replace('_', '-')}-gene" for skill in skills}
        for skill, path in genes_src.items():
            sign_gene(path, key=key.private, repo_id=repo_ids[skill])  # push sends a gene only to its signed repo
        _say(f"signed {len(genes_src)} genes with the demo key (trusted in {trust.path})")

    registry = open_registry(config.registry or str(out / "registry"))
    with clock.stage("push"):
        for skill, path in genes_src.items():
            result = push(path, repo_ids[skill], registry=registry, trust=trust)
            _say(f"pushed {repo_ids[skill]} ({result.tag}, {len(result.uploaded)} files uploaded)")

    with clock.stage("search"):
        hits = search(registry=registry)
        _say("search: " + ", ".join(f"{h.repo_id} [{h.card.skill}]" for h in hits))

    store = GeneStore(out / "genes")
    installed: dict[str, Path] = {}
    with clock.stage("pull+verify"):
        for skill in skills:
            gene = pull(repo_ids[skill], host=plan.host, registry=registry, store=store, trust=trust)
            installed[skill] = Path(os.fspath(gene))
        _say(f"pulled and verified {len(installed)} genes into {store.root}")

    with clock.stage("heterologous"):
        heterologous = _heterologous(plan, skills[0], repo_ids[skills[0]], registry, trust, out)

    with clock.stage("compose"):
        # Routed by the genes' own prototypes (their cards' routing blocks): nothing trained. The background
        # is what the host already does without a gene.
        composition = compose(plan.host, list(installed.values()), "prototypes",
                              none_prompts=_none_prompts(plan, skills))

    with clock.stage("evaluate"):
        measured = _evaluate(plan, skills, composition, installed)
    measured["heterologous"] = heterologous

    return write_outputs(out, plan, skills, measured, installed, clock.timings,
                         registry_spec=str(out / "registry") if config.registry is None else config.registry,
                         config=config)


def _heterologous(plan: DemoPlan, skill: str, repo_id: str, registry: Any, trust: Any, out: Path) -> dict[str, Any]:
    """Pull a gene for the heterologous host (refused: it is made for another model) and measure the homology
    of the skill's donor with the host it was made for and with the heterologous host, layer by layer."""
    from ..errors import IncompatibleError
    from ..hosts import describe_host
    from ..registry import GeneStore, pull

    try:
        pull(repo_id, host=plan.heterologous, registry=registry, store=GeneStore(out / "genes-heterologous"),
             trust=trust)
        refusal = None
    except IncompatibleError as err:
        refusal = str(err)
    _say(f"pull {repo_id} for {describe_host(plan.heterologous).repo_id}: "
         + (f"refused: {refusal}" if refusal else "ACCEPTED (it should not be)"))
    return {"skill": skill, "refused": refusal, "homology": homology_across(plan, skill)}


def homology_across(plan: DemoPlan, skill: str) -> dict[str, dict[str, Any]]:
    """The homology of the skill's donor with the host (``host``) and with the heterologous host
    (``heterologous``): per layer, linear CKA of the paired differences of the skill's prompts and general
    prompts (at matched relative depth when the depths differ), with each model's repo id and the method."""
    from ..hosts import describe_host, load_host, load_tokenizer
    from ..lorafy.homology import score_homology

    skill_prompts, contrast = plan.contrast(skill)
    donor, tokenizer = load_host(plan.donors[skill])
    per_host = {}
    for role, path in (("host", plan.host), ("heterologous", plan.heterologous)):
        model, _ = load_host(path)
        homology = score_homology(donor, model, tokenizer, skill_prompts, contrast, host_tokenizer=load_tokenizer(path))
        per_host[role] = {"repo_id": describe_host(path).repo_id, "method": homology.method,
                          "per_layer": {p["layer"]: p["cka"] for p in homology.per_layer}}
        del model
    return per_host


def _evaluate(plan: DemoPlan, skills: list[str], composition: Any, installed: dict[str, Path]) -> dict[str, Any]:
    """Accuracy on the test prompts of host, donors, each gene alone and the composition, plus routing accuracy
    (on the test prompts and on the held-out-template prompts among them), and sample outputs of the
    composition beside the bare host's."""
    from ..evaluate import accuracy, exact_match, greedy_answers
    from ..gene import Gene
    from ..hosts import load_host
    from ..routing import adapter_name

    host, tok = load_host(plan.host)
    rows = plan.tests(host, tok)
    acc: dict[str, dict[str, float]] = {}
    acc["host"] = {s: accuracy(host, tok, r) for s, r in rows.items()}
    for skill in skills:
        donor, _ = load_host(plan.donors[skill])
        acc[f"donor-{skill}"] = {s: accuracy(donor, tok, r) for s, r in rows.items()}
        del donor
    names = {skill: adapter_name(Gene.load(path)) for skill, path in installed.items()}
    model = composition.model
    for skill in skills:
        acc[f"gene-{skill}"] = {s: sum(exact_match(model, tok, r, adapter_names=[names[skill]] * len(r))) / len(r)
                                for s, r in rows.items()}
    # The composition: the router decides per prompt, the batch runs with mixed adapters.
    label_of = {names[s]: s for s in skills}
    comp_acc, confusion_pairs, heldout_hits, heldout_total = {}, [], 0, 0
    for s, r in rows.items():
        decisions = composition.route([x["prompt"] for x in r])
        hits = exact_match(model, tok, r, adapter_names=composition.adapter_names(decisions))
        comp_acc[s] = sum(hits) / len(hits)
        right = s if s in skills else "none"
        for d, x in zip(decisions, r):
            chosen = label_of.get(d.gene, "none") if d.gene else "none"
            confusion_pairs.append((right, chosen))
            if x.get("heldout"):
                heldout_total += 1
                heldout_hits += chosen == right
    acc["composition"] = comp_acc
    labels = [*skills, "none"]
    matrix = [[sum(1 for a, b in confusion_pairs if a == r and b == c) for c in labels] for r in labels]
    routing = sum(1 for a, b in confusion_pairs if a == b) / len(confusion_pairs)
    firsts = [rows[s][0] for s in rows]
    prompts = [x["prompt"] for x in firsts]
    samples = composition.generate(prompts, max_new_tokens=24)
    bare = greedy_answers(host, tok, prompts, max_new_tokens=24)
    return {"accuracy": acc, "routing_accuracy": routing,
            "routing_accuracy_heldout": heldout_hits / max(heldout_total, 1),
            "confusion": {"labels": labels, "matrix": matrix},
            "samples": [{"prompt": _shown(x), "expected": x.get("answer"), "gene": g.gene, "output": g.text,
                         "host alone": h} for g, h, x in zip(samples, bare, firsts)]}


def _shown(row: dict[str, Any]) -> str:
    """A test row's request as a person wrote it (a rendered row's ``text``), else its prompt."""
    return str(row.get("text") or row["prompt"])
