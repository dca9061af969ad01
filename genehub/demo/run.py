"""``run_demo``: one function that runs the marketplace end to end and reports what it measured."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .report import DemoResult, write_outputs

DEMO_KEY = "genehub-demo"
DEMO_OWNER = "genehub-demo"


@dataclass
class DemoConfig:
    """What the demo runs on and where it writes.

    Attributes:
        preset: zoo preset (``demo``: about 12 minutes on 2 CPU cores with the zoo cached, nearly all of it
            extracting the two genes, plus about 9 to build the zoo; ``tiny``: about a minute, for tests).
        out: output folder: the registry, installed genes, keys, router, report and plots all go here,
            so the demo changes nothing else on the machine.
        registry: where genes are pushed: default a local registry in ``out/registry``; any
            ``--registry`` spec genehub accepts (a directory, ``hub``, or a Hub URL) otherwise.
        steps: distillation steps per gene (None: extraction's default).
        progress: show progress bars.
    """

    preset: str = "demo"
    out: str | Path = "demo-output"
    registry: str | None = None
    steps: int | None = None
    seed: int = 0
    progress: bool = True


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


def run_demo(config: DemoConfig | None = None) -> DemoResult:
    """Run the demo and write ``report.md``, ``results.json`` and plots into ``config.out``.

    Raises:
        UsageError: for an unknown preset; any GenehubError of a stage, with that stage's advice.
    """
    from .. import zoo as zoo_lib
    from ..gene import TrustStore, new_key, sign_gene
    from ..lorafy import ExtractConfig, extract
    from ..registry import GeneStore, open_registry, pull, push, search
    from ..routing import Router, compose

    config = config or DemoConfig()
    if config.preset not in zoo_lib.PRESETS:
        raise UsageError(f"Unknown preset {config.preset!r}.", hint=f"Choose one of: {', '.join(zoo_lib.PRESETS)}.")
    out = Path(config.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    clock = _Clock()

    with clock.stage("zoo"):
        _say(f"building or reusing the zoo ({config.preset} preset)")
        zoo = zoo_lib.build(config.preset, progress=config.progress)
    skills = list(zoo.donors)

    genes_src: dict[str, Path] = {}
    for skill in skills:
        with clock.stage("extract"):
            _say(f"extracting the {skill} gene from donor-{skill} (circuit, homology, distillation)")
            extract_config = ExtractConfig(seed=config.seed, progress=config.progress)
            if config.steps is not None:
                extract_config.steps = config.steps
            genes_src[skill] = Path(extract(zoo.donors[skill], zoo.host, zoo_lib.skill_data(skill),
                                            out / "genes-built" / skill, config=extract_config))

    with clock.stage("sign"):
        keys_dir = out / "config" / "keys"
        key = new_key(DEMO_KEY, directory=keys_dir, overwrite=True)
        trust = TrustStore(out / "config" / "trust")
        trust.add(DEMO_KEY, key.public, overwrite=True)
        repo_ids = {skill: f"{DEMO_OWNER}/{skill}-gene" for skill in skills}
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
            gene = pull(repo_ids[skill], host=zoo.host, registry=registry, store=store, trust=trust)
            installed[skill] = Path(os.fspath(gene))
        _say(f"pulled and verified {len(installed)} genes into {store.root}")

    with clock.stage("router"):
        # "none": what the host already does without a gene, every other host skill.
        router = Router.train(zoo.host, list(installed.values()), none_prompts=zoo_lib.none_prompts, seed=config.seed)
        router.save(out / "router")
    with clock.stage("compose"):
        composition = compose(zoo.host, list(installed.values()), router)

    with clock.stage("evaluate"):
        measured = _evaluate(zoo, skills, composition, installed)

    return write_outputs(out, zoo, skills, measured, installed, clock.timings,
                         registry_spec=str(out / "registry") if config.registry is None else config.registry,
                         config=config)


def _evaluate(zoo: Any, skills: list[str], composition: Any, installed: dict[str, Path]) -> dict[str, Any]:
    """Accuracy on the test prompts of host, donors, each gene alone and the composition, plus routing accuracy
    (on the test prompts and on the held-out-template prompts among them)."""
    from ..gene import Gene
    from ..hosts import load_host
    from ..routing import adapter_name
    from ..evaluate import accuracy, exact_match
    from ..zoo import HOST_SKILLS

    tests = zoo.test_sets(tuple(dict.fromkeys([*HOST_SKILLS, *skills])))
    rows = {s: list(ds) for s, ds in tests.items()}
    acc: dict[str, dict[str, float]] = {}
    host, tok = load_host(zoo.host)
    acc["host"] = {s: accuracy(host, tok, r) for s, r in rows.items()}
    for skill in skills:
        donor, _ = load_host(zoo.donors[skill])
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
    samples = composition.generate([x["prompt"] for x in firsts], max_new_tokens=12)
    return {"accuracy": acc, "routing_accuracy": routing,
            "routing_accuracy_heldout": heldout_hits / max(heldout_total, 1),
            "confusion": {"labels": labels, "matrix": matrix},
            "samples": [{"prompt": g.prompt, "expected": x["answer"], "gene": g.gene, "output": g.text}
                        for g, x in zip(samples, firsts)]}
