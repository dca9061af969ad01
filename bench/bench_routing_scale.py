"""Benchmark: routing that scales to dozens of genes, on the real preset (issue 18), in one run.

SmolLM2-135M-Instruct and the zoo's 34 language skills (:mod:`genehub.zoo.language`); general chat prompts
of the zoo's calibration families center the encoders, calibrate each gene's threshold and are the
router's background, those of its test families measure false activation (:mod:`genehub.zoo.general`).
Side by side, with 2 / 4 / 8 / 16 / 24 / 32 genes drawn at random several times:

* routing accuracy on the skills' held-out phrasings (fresh instances: the held-out rows of the skill
  LoRAs' test split; every choice was made on other instances of the same phrasings, ``dev``), and
  false activation on the general test families; what each step of the default router adds;
* composed accuracy per skill against oracle routing, with the trained skill LoRAs wrapped as genes
  (teacher-forced exact match on the rendered test rows), for the skills whose LoRA is trained;
* a gene the router never saw, added to a live composition from its card alone;
* latency against the bare host at batch 1 / 8 / 32 (forward and 16-token generation with the KV cache,
  and the router's share of a 16-token generation), interleaved and repeated, with 16 of the skill
  LoRAs as they are (rank 16 on every linear module of 15 blocks) and cut to the size ``genehub extract``
  makes (rank 8 at 4 blocks; ``--latency-only`` runs just these rows);
* the held-out phrasings the default misroutes, under every encoder and other ways to compare (more
  prototypes, nearest examples, LDA whitening; ``--misroutes-only`` runs just this, in seconds);
* against today's trained head (and the same head over the default's features), LoraRetriever-style
  mean embedding, Arrow, oracle routing and, with ``--xlora-steps N``, X-LoRA;
* the targets of issue 18, each with its measured figure and whether it is met.

    OMP_NUM_THREADS=1 python bench/bench_routing_scale.py --out bench/results/routing-scale

About 50 minutes on one core with the encodings cached (the latency rows alone: about 10) (``--max-genes 3 --draws 1
--skip-latency`` for a quick check).

Writes ``OUT/routing-scale.md`` and ``OUT/routing-scale.json``. Encodings are cached in ``--cache``, the
genes in ``--genes``; only skill LoRAs already trained are used (the bench never starts a training).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _routing_methods as M  # noqa: E402
import _routing_real as R  # noqa: E402
import _routing_scale_data as D  # noqa: E402

from genehub._tables import markdown_table  # noqa: E402
from genehub.routing.encoders import concat_vectors, normalise  # noqa: E402
from genehub.routing.prototypes import DEFAULT_EXEMPLAR_MATCH  # noqa: E402
from genehub.routing.slots import DEFAULT_TEXT, mask_slots  # noqa: E402

TARGETS = {16: 0.97, 32: 0.93}
FAR_TARGET = 0.01
DEFAULT = "default: MiniLM (slots) + host L12 (instruction tokens), centered"
FRONT = "MiniLM alone (slots, centered): the vLLM front"
HOST = "host L12 instruction tokens, centered"
MATCH = DEFAULT_EXEMPLAR_MATCH
V1 = "the default's encoder with slots-v1 (a lone digit masked too)"


def table(header: list[str], rows: list[list[Any]]) -> str:
    return markdown_table([dict(zip(header, map(str, row))) for row in rows], header).rstrip("\n")


def pct(x: float | None) -> str:
    return "-" if x is None or x != x else f"{100 * x:.1f}"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ vectors
def encode_all(data: dict[str, Any], cache: Path, host: Path) -> dict[str, dict[str, torch.Tensor]]:
    """Every prompt's vectors: MiniLM on the prompt and on its slots masked, the host's pooled states at the
    layers a composition can read in its pass, and today's head's features (layer 22, last token)."""
    from genehub.routing.encoders import SentenceEncoder

    prompts = D.all_prompts(data)
    masked = {p: mask_slots(p) for p in prompts}
    masked_v1 = {p: mask_slots(p, "slots-v1") for p in prompts}
    texts = sorted(set(prompts) | set(masked.values()) | set(masked_v1.values()))
    minilm = SentenceEncoder.minilm(batch_size=32)
    m = D.encode_cached(cache / "minilm", texts, lambda ps: {"minilm": minilm.encode(ps)}, log=log)["minilm"]
    m_of = dict(zip(texts, m))
    h = D.encode_cached(cache / f"host-{DEFAULT_TEXT}", prompts, lambda ps: D.host_scan(host, ps, log=log), log=log)
    h1 = D.encode_cached(cache / "host-slots-v1", prompts,
                         lambda ps: D.host_scan(host, ps, text="slots-v1", log=log), log=log)
    head = D.encode_cached(cache / "head-L22", prompts, lambda ps: D.head_scan(host, ps, layer=22, log=log), log=log)
    out = {"minilm raw": {p: m_of[p] for p in prompts}, "minilm slots": {p: m_of[masked[p]] for p in prompts},
           "minilm slots-v1": {p: m_of[masked_v1[p]] for p in prompts},
           "host slots-v1 L12/mean_instr": dict(zip(prompts, h1["L12/mean_instr"])),
           "head L22": dict(zip(prompts, head["L22/last"]))}
    for key, x in h.items():
        out[f"host {key}"] = dict(zip(prompts, x))
    return out


def centered(vectors: dict[str, torch.Tensor], data: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Normalised, minus the calibration prompts' mean (what an encoder's center does), not renormalised."""
    unit = {p: normalise(v[None])[0] for p, v in vectors.items()}
    center = torch.stack([unit[p] for p in data["general_calibration"]]).mean(0)
    return {p: v - center for p, v in unit.items()}


def centered_raw(vectors: dict[str, torch.Tensor], data: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Minus the calibration prompts' mean of the raw vectors (the host encoder's center)."""
    center = torch.stack([vectors[p] for p in data["general_calibration"]]).mean(0)
    return {p: v - center for p, v in vectors.items()}


def concat(*parts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    keys = list(parts[0])
    stacked = concat_vectors([torch.stack([p[k] for k in keys]) for p in parts])
    return dict(zip(keys, stacked))


def spaces_of(vec: dict[str, dict[str, torch.Tensor]], data: dict[str, Any]) -> dict[str, M.Space]:
    minilm_slots_c = centered(vec["minilm slots"], data)
    host = {layer: centered_raw(vec[f"host L{layer}/mean_instr"], data) for layer in D.LAYERS}
    user12 = centered_raw(vec["host L12/mean_user"], data)
    named = {
        DEFAULT: concat(minilm_slots_c, host[12]),
        FRONT: minilm_slots_c,
        "MiniLM raw": vec["minilm raw"],
        "MiniLM slots": vec["minilm slots"],
        "host L12 user, centered": user12,
        "host L12 instruction tokens, centered": host[12],
        "MiniLM raw + host L12 user (phase 1's best)": concat(vec["minilm raw"], user12),
        "MiniLM slots + host L12 user": concat(vec["minilm slots"], user12),
        "MiniLM slots centered + host L12 user": concat(minilm_slots_c, user12),
        "head L22 (last token of the formatted prompt)": vec["head L22"],
        V1: concat(centered(vec["minilm slots-v1"], data), centered_raw(vec["host slots-v1 L12/mean_instr"], data)),
    }
    for layer in D.LAYERS:
        named[f"MiniLM slots centered + host L{layer} instruction tokens"] = concat(minilm_slots_c, host[layer])
    return {name: M.Space(name, v, data) for name, v in named.items()}


def encoder_check(spaces: dict[str, M.Space], data: dict[str, Any], model: Any, tokenizer: Any, info: Any) -> dict[str, float]:
    """The cached vectors against the library's encoders (``make_encoder``) on a few prompts."""
    from genehub.routing.encoders import make_encoder

    sample = data["test"][sorted(data["test"])[0]][:6] + data["test"]["initials"][:4] + data["general_test"][:6]
    out = {}
    for recipe, name in (("default", DEFAULT), ("minilm", FRONT)):
        encoder = make_encoder(recipe, general=data["general_calibration"], model=model, tokenizer=tokenizer, host=info)
        out[recipe] = float((encoder.encode(sample) - spaces[name].of(sample)).abs().max())
    return out


# ------------------------------------------------------------------------------------------------ sections
def steps_table(spaces: dict[str, M.Space], skills: list[str], draws: int) -> list[list[Any]]:
    """What each step of the default router adds, 16 and 32 genes: dev (where it was chosen) and test rows
    of the held-out phrasings, and all test rows (seen phrasings too); prototypes alone in every row but the
    last, which adds the exemplars."""
    rows = []
    steps = [(name, name, None) for name in (
        "MiniLM raw", "MiniLM slots", FRONT, "host L12 user, centered", "host L12 instruction tokens, centered",
        "MiniLM raw + host L12 user (phase 1's best)", "MiniLM slots + host L12 user",
        "MiniLM slots centered + host L12 user", V1)]
    steps += [(f"{DEFAULT}, prototypes alone", DEFAULT, None), (f"{DEFAULT} + exemplars (the default)", DEFAULT, MATCH)]
    for label, name, match in steps:
        cells = [label]
        for split in ("dev", "test", "test_all"):
            r = M.scaling(lambda g: M.prototype_eval(spaces[name], g, split=split, match=match), skills, (16, 32), draws)
            cells += [pct(r[16]["routed_mean"]), pct(r[32]["routed_mean"])]
        cells.append(pct(max(v["far_worst"] for v in r.values())))
        rows.append(cells)
    return rows


def exemplars_table(spaces: dict[str, M.Space], skills: list[str], draws: int) -> list[list[Any]]:
    """The similarity to an exemplar that counts as its phrasing, on all test rows (the held-out
    phrasings alone do not move: no held-out prompt is that near any gene's example)."""
    rows = []
    for match in (None, 0.99, 0.97, 0.95, 0.93, 0.90, 0.85):
        cells = ["- (prototypes alone)" if match is None else f"{match:.2f}"]
        for split in ("test", "test_all"):
            r = M.scaling(lambda g: M.prototype_eval(spaces[DEFAULT], g, split=split, match=match), skills, (16, 32), draws)
            cells += [pct(r[16]["routed_mean"]), pct(r[32]["routed_mean"])]
        rows.append(cells + [pct(max(v["far_worst"] for v in r.values()))])
    return rows


def layers_table(spaces: dict[str, M.Space], skills: list[str], draws: int) -> list[list[Any]]:
    rows = []
    for layer in D.LAYERS:
        name = f"MiniLM slots centered + host L{layer} instruction tokens"
        r = M.scaling(lambda g: M.prototype_eval(spaces[name], g, split="dev"), skills, (16, 32), draws)
        rows.append([layer, pct(r[16]["routed_mean"]), pct(r[32]["routed_mean"]), pct(r[32]["far_mean"])])
    return rows


def margin_table(spaces: dict[str, M.Space], skills: list[str], draws: int) -> list[list[Any]]:
    rows = []
    for name in (DEFAULT, FRONT):
        for margin in (None, 0.0, 0.02, 0.05, 0.1):
            r = M.scaling(lambda g: M.prototype_eval(spaces[name], g, split="dev", background=margin is not None,
                                                     margin=margin or 0.0), skills, (16, 32), draws)
            rows.append([name, "-" if margin is None else f"{margin:.2f}", pct(r[16]["routed_mean"]),
                         pct(r[32]["routed_mean"]), pct(max(v["far_worst"] for v in r.values()))])
    return rows


def misroutes_section(spaces: dict[str, M.Space], data: dict[str, Any], skills: list[str]) -> list[str]:
    """The held-out phrasings the default router sends elsewhere with all genes installed, and the share of
    their test rows whose nearest gene is their own under every encoder and under other ways to compare
    (more prototypes, nearest examples, LDA whitening): is any of them the fix?"""
    genes = skills
    x, y = M.labelled(spaces[DEFAULT], genes, "test")
    prompts = [p for s in genes for p in data["test"][s]]
    phrasing = [mask_slots(p) for p in prompts]
    chosen = spaces[DEFAULT].router(genes).choose(x)
    groups: dict[tuple[int, str], list[int]] = {}
    for i, key in enumerate(zip(y.tolist(), phrasing)):
        groups.setdefault(key, []).append(i)
    missed = [(key, rows) for key, rows in sorted(groups.items())
              if sum(int(chosen[i]) == key[0] for i in rows) < 0.9 * len(rows)]
    if not missed:
        return ["### Held-out phrasings the default misroutes", "", "None below 90% routed to their own gene.", ""]

    def nearest(space: M.Space, **options: Any) -> torch.Tensor:
        return space.router(genes, match=None, **options).similarities(space.of(prompts)).argmax(1)

    def knn(space: M.Space, k: int = 5) -> torch.Tensor:
        train = torch.cat([space.of(data["train"][s]) for s in genes])
        owner = torch.cat([torch.full((len(data["train"][s]),), i) for i, s in enumerate(genes)])
        top = (space.of(prompts) @ train.T).topk(k, dim=1).indices
        return owner[top].mode(dim=1).values

    variants: list[tuple[str, torch.Tensor]] = [("the default router (its decision)", chosen)]
    for name in ("MiniLM raw", "MiniLM slots", FRONT, "host L12 user, centered", "host L12 instruction tokens, centered",
                 "MiniLM raw + host L12 user (phase 1's best)", "MiniLM slots centered + host L12 user", V1, DEFAULT):
        variants.append((f"{name}: nearest prototype", nearest(spaces[name])))
    for layer in D.LAYERS:
        name = f"MiniLM slots centered + host L{layer} instruction tokens"
        variants.append((f"{name}: nearest prototype", nearest(spaces[name])))
    variants.append(("default's encoder, K=4 prototypes per gene", nearest(spaces[DEFAULT], k=4)))
    variants.append(("default's encoder, 5 nearest examples (vote)", knn(spaces[DEFAULT])))
    for shrinkage in (0.05, 0.1, 0.4):
        variants.append((f"default's encoder, LDA-whitened (shrinkage {shrinkage})",
                         M.whitened_nearest(spaces[DEFAULT], genes, spaces[DEFAULT].of(prompts), shrinkage=shrinkage)))
        variants.append((f"MiniLM alone, LDA-whitened (shrinkage {shrinkage})",
                         M.whitened_nearest(spaces[FRONT], genes, spaces[FRONT].of(prompts), shrinkage=shrinkage)))
    rows = []
    for label, pick in variants:
        cells = [label, pct(float((pick == y).float().mean()))]
        for (gene, _), members in missed:
            went = collections.Counter(genes[int(pick[i])] if int(pick[i]) >= 0 else "none" for i in members)
            own = went.pop(genes[gene], 0)
            cells.append(pct(own / len(members)) + (f" ({went.most_common(1)[0][0]})" if went else ""))
        rows.append(cells)
    header = ["how", f"all held-out ({len(genes)} genes)"] + [f"{genes[g]}: {text}" for (g, text), _ in missed]
    return ["### Held-out phrasings the default misroutes, and every alternative measured", "",
            f"All {len(genes)} genes installed; the test rows of each held-out phrasing (slots masked) that the default "
            "router sends to its own gene less than 90% of the time. Each cell: the share of that phrasing's rows "
            "whose nearest gene (closed: no \"none\") is its own, and in brackets where most of the rest go; "
            "first column: closed accuracy on every held-out test row.", "",
            table(header, rows), ""]


def scaling_methods(spaces: dict[str, M.Space]) -> dict[str, Any]:
    head = spaces["head L22 (last token of the formatted prompt)"]
    return {
        DEFAULT: lambda g: M.prototype_eval(spaces[DEFAULT], g),
        FRONT: lambda g: M.prototype_eval(spaces[FRONT], g),
        HOST: lambda g: M.prototype_eval(spaces[HOST], g),
        "phase 1's default: MiniLM raw, thresholds + background": lambda g: M.prototype_eval(spaces["MiniLM raw"], g,
                                                                                             match=None),
        "LoraRetriever mean embedding (MiniLM raw, K=1, closed)": lambda g: M.prototype_eval(spaces["MiniLM raw"], g,
                                                                                             match=None),
        "today's trained head (host L22, last token)": lambda g: M.head_eval(head, g),
        "trained head on the default's vectors": lambda g: M.head_eval(spaces[DEFAULT], g),
    }


def decider(name: str, spaces: dict[str, M.Space]) -> Any:
    """``decide(genes, prompts) -> [gene index or -1]`` for composed accuracy."""
    if name.startswith("today's trained head"):
        space = spaces["head L22 (last token of the formatted prompt)"]
        heads: dict[tuple[str, ...], M.Head] = {}

        def decide(genes: list[str], prompts: list[str]) -> list[int]:
            head = heads.setdefault(tuple(genes), M.Head(space, genes))
            return head.choose(space.of(prompts)).tolist()
        return decide
    if name.startswith("LoraRetriever"):
        space = spaces["MiniLM raw"]
        return lambda genes, prompts: space.router(genes, match=None).similarities(space.of(prompts)).argmax(1).tolist()
    space = spaces[{DEFAULT: DEFAULT, FRONT: FRONT}[name]]
    return lambda genes, prompts: space.router(genes).choose(space.of(prompts)).tolist()


# ------------------------------------------------------------------------------------------------ run
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", default="/tmp/genehub-bench/routing-scale-cache", help="encodings cache folder")
    ap.add_argument("--genes", default="/tmp/genehub-bench/routing-scale-genes", help="where the bench's genes go")
    ap.add_argument("--out", default=str(HERE / "results" / "routing-scale"))
    ap.add_argument("--draws", type=int, default=5, help="random draws of skills per size")
    ap.add_argument("--rounds", default="1:5,8:3,32:3", help="latency rounds per batch size")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--xlora-steps", type=int, default=0,
                    help="X-LoRA classifier training steps (0, the default: not run; 60 add about 6 minutes)")
    ap.add_argument("--max-genes", type=int, default=None, help="use at most this many trained skill LoRAs (a quick run)")
    ap.add_argument("--latency-genes", type=int, default=16, help="genes composed for the latency rows (the first N trained)")
    ap.add_argument("--latency-only", action="store_true", help="only the latency rows (both gene sizes)")
    ap.add_argument("--misroutes-only", action="store_true",
                    help="only the held-out phrasings the default misroutes, under every encoder and variant (seconds, "
                         "from the cached encodings)")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    torch.manual_seed(0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from genehub.hosts import describe_host, load_host
    from genehub.zoo import real

    host = real.host_path()
    info = describe_host(host)
    data = D.build_data()
    skills = sorted(data["train"])
    md = [f"## Routing at scale on the real preset ({time.strftime('%Y-%m-%d')})", "",
          "Command: `OMP_NUM_THREADS=1 python bench/bench_routing_scale.py " + " ".join(sys.argv[1:] if argv is None else argv) + "`",
          f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (shared), torch threads {torch.get_num_threads()}, "
          f"Python {platform.python_version()}; load average at start {os.getloadavg()[0]:.1f}.", "",
          f"Host: {info.repo_id} (imported, {host.name}). {len(skills)} skills; per skill up to "
          f"{D.TRAIN_PER_SKILL} train prompts of its seen phrasings (the gene's examples: prototypes, thresholds "
          f"and heads see only these), {sum(map(len, data['dev'].values()))} prompts of the held-out phrasings for "
          f"choosing (`dev`) and {sum(map(len, data['test'].values()))} distinct held-out rows of the LoRAs' test "
          f"split for the tables (`test`). General prompts: {len(data['general_calibration'])} of the families "
          f"{', '.join(data['families']['calibration'])} (centers, thresholds, background, the heads' \"none\"), "
          f"{len(data['general_test'])} of {', '.join(data['families']['test'])} (false activation). "
          f"{args.draws} random draws of skills per size; cells are mean / worst over draws, in %.", ""]
    result: dict[str, Any] = {"digest": data["digest"], "host": info.to_dict()}
    if args.latency_only:
        md += latency_section(args, data, host, info, result)
        return finish(md, result, out, started)

    log("encoding ...")
    vec = encode_all(data, Path(args.cache), host)
    spaces = spaces_of(vec, data)
    if args.misroutes_only:
        md += misroutes_section(spaces, data, skills)
        return finish(md, result, out, started)
    model, tokenizer = load_host(host)
    check = encoder_check(spaces, data, model, tokenizer, info)
    result["encoder_check"] = check
    md += ["The cached vectors equal the library's encoders (`make_encoder`) on 16 prompts to a max abs difference "
           "of " + ", ".join(f"{k} {v:.1e}" for k, v in check.items()) + ".", ""]

    log("steps, layers, margins ...")
    steps = steps_table(spaces, skills, args.draws)
    layers = layers_table(spaces, skills, args.draws)
    margins = margin_table(spaces, skills, args.draws)
    weights = exemplars_table(spaces, skills, args.draws)
    result.update(steps=steps, layers=layers, margins=margins, exemplars=weights)
    md += ["### What each step adds (prototypes K=1, per-gene thresholds at 1%, background margin 0.05)", "",
           "`slots`: the prompt read with its numbers (but a lone digit: `slots-v2`), quoted spans, names, "
           "addresses and links masked (`genehub.routing.slots`); `centered`: minus the mean of the calibration "
           "prompts; `instruction tokens`: the host's mean over the user message's tokens without the slot "
           "tokens; `exemplars`: a prompt whose cosine to one of a gene's examples is at least "
           f"{MATCH} (one of the gene's own phrasings, slots masked) scores that cosine for the gene. Routed "
           "accuracy (a prompt routed to none is a miss), mean over draws: dev and test on the held-out "
           "phrasings, all on every test row (seen phrasings too); false activation: the worst draw at any size "
           "of 16/32 on the test families.", "",
           table(["encoder", "dev 16", "dev 32", "test 16", "test 32", "all 16", "all 32", "false act. (worst)"],
                 steps), "",
           "The similarity that counts as an example's phrasing (the default's encoder; test rows):", "",
           table(["match", "held-out 16", "held-out 32", "all 16", "all 32", "false act. (worst)"], weights), "",
           "Host layer of the default (all at or below block 15, the first the skill LoRAs adapt, so all can be "
           "read inside the composed pass), dev:", "",
           table(["host layer", "dev 16", "dev 32", "dev 32 false act."], layers), "",
           "Background margin (dev; `-`: thresholds alone):", "",
           table(["encoder", "margin", "dev 16", "dev 32", "false act. (worst)"], margins), ""]

    log("scaling ...")
    scale_rows, result["scaling"] = [], {}
    for name, fn in scaling_methods(spaces).items():
        res = M.scaling(fn, skills, M.SIZES, args.draws)
        result["scaling"][name] = res
        closed_only = name.startswith("LoraRetriever")
        for n, r in res.items():
            scale_rows.append([name, n, f"{pct(r['closed_mean'])} / {pct(r['closed_worst'])}",
                               "-" if closed_only else f"{pct(r['routed_mean'])} / {pct(r['routed_worst'])}",
                               "-" if closed_only else f"{pct(r['far_mean'])} / {pct(r['far_worst'])}"])
    md += ["### Scaling: held-out phrasings (test) and false activation", "",
           "closed: the nearest gene (the head's best gene) always; routed: the router's decision, none included; "
           "false activation: general prompts of the test families routed to a gene. Oracle routing is 100% by "
           "definition. Today's head is `genehub.routing.Router`'s: a linear head on the host's layer 22 (three "
           "quarters up), last token of the formatted prompt, trained on the genes' examples with the calibration "
           "families as none (threshold 0.5).", "",
           table(["method", "genes", "closed", "routed", "false activation"], scale_rows), ""]
    md += misroutes_section(spaces, data, skills)

    real_md, real_result = real_section(args, data, spaces, host, info, model, tokenizer)
    md += real_md
    result.update(real_result)

    return finish(md, result, out, started)


def finish(md: list[str], result: dict[str, Any], out: Path, started: float) -> int:
    md += targets(result)
    md += [f"Run time {time.perf_counter() - started:.0f} s; load average at the end {os.getloadavg()[0]:.1f}.", ""]
    (out / "routing-scale.md").write_text("\n".join(md), encoding="utf-8")
    (out / "routing-scale.json").write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    print("\n".join(md))
    return 0


def latency_section(args: argparse.Namespace, data: dict[str, Any], host: Path, info: Any, result: dict[str, Any]) -> list[str]:
    """``--latency-only``: the latency rows with the first trained skill LoRAs and with extract-sized genes."""
    loras = R.trained_loras()
    trained = sorted(loras)
    model, tokenizer = load_fresh(host)
    skills = trained[:args.latency_genes]
    genes = skill_genes(Path(args.genes), skills, loras, data, host, info, model, tokenizer)
    comp = fresh_composition(host, [genes[s] for s in skills], data)
    md, result["latency"] = latency(comp, data, args, host, FULL_SIZE)
    del comp
    circuit_md, result["latency_circuit"] = circuit_latency(args, data, host, info, model, tokenizer, loras, trained)
    return md + circuit_md


def real_section(args: argparse.Namespace, data: dict[str, Any], spaces: dict[str, M.Space], host: Path, info: Any,
                 model: Any, tokenizer: Any) -> tuple[list[str], dict[str, Any]]:
    """Composed accuracy, the gene never seen, latency and the other routers, on the trained skill LoRAs."""
    loras = R.trained_loras()
    trained = sorted(loras)[:args.max_genes]
    md = [f"### Composed accuracy, on the skills whose LoRA is trained ({len(trained)} of {len(data['train'])})", ""]
    result: dict[str, Any] = {"trained": trained}
    if len(trained) < 2:
        return md + ["Fewer than two skill LoRAs are trained: nothing to compose.", ""], result
    log(f"genes for {len(trained)} trained skills ...")
    genes = skill_genes(Path(args.genes), trained, loras, data, host, info, model, tokenizer)
    rows = {s: R.test_rows(s, tokenizer, data["test_rows"][s]) for s in trained}
    heldout = {s: [bool(r["heldout"]) for r in rows[s]] for s in trained}
    names = {s: f"{s.replace('_', '-')}-gene" for s in trained}

    # A live composition of all but the last gene, which is then added from its card alone.
    log("composition ...")
    first, newcomer = trained[:-1], trained[-1]
    comp = fresh_composition(host, [genes[s] for s in first], data)
    hot = hot_add(comp, genes[newcomer], data, newcomer, names)
    result["hot_add"] = hot
    # The library's decisions equal the bench's (cached vectors) on every test row.
    prompts = [r["prompt"] for s in trained for r in rows[s]]
    lib = [d.gene for d in comp.route(prompts)]
    space = spaces[DEFAULT]
    bench = [trained[i] if i >= 0 else None for i in space.router(trained).choose(
        space.of([p for s in trained for p in data["test_all"][s]])).tolist()]
    agree = sum((names[b] if b else None) == a for a, b in zip(lib, bench)) / len(lib)
    result["library_agreement"] = agree

    em = R.ExactMatch(comp.model, comp.tokenizer, rows, names)
    check_skill = trained[0]
    em.fill([(check_skill, i, check_skill) for i in range(len(rows[check_skill]))])
    oracle_check = sum(em.cache[(check_skill, i, check_skill)] for i in range(len(rows[check_skill]))) / len(rows[check_skill])
    result["oracle_check"] = {"skill": check_skill, "bench": oracle_check,
                              "metrics.json": R.lora_metrics(loras[check_skill])["lora"]["all"]}
    log("composed accuracy ...")
    sizes = [n for n in M.SIZES if n < len(trained)] + [len(trained)]  # and all the trained genes at once
    methods = [DEFAULT, FRONT, "today's trained head (host L22, last token)", "LoraRetriever mean embedding (MiniLM raw, K=1, closed)"]
    comp_rows, per_skill, result["composed"] = [], {}, {}
    for name in methods:
        decide = decider(name, spaces)
        result["composed"][name] = {}
        for n in sizes:
            ratios, accs, oracles, worst_skill = [], [], [], None
            for g in M.draws(trained, n, args.draws):
                res = R.composed(em, g, decide, {s: data["test_all"][s] for s in g})
                for s, v in res.items():
                    ratio = v["routed"] / v["oracle"] if v["oracle"] else 1.0
                    ratios.append(ratio)
                    if worst_skill is None or ratio < worst_skill[1]:
                        worst_skill = (s, ratio)
                    accs.append(v["routed"])
                    oracles.append(v["oracle"])
                    if name == DEFAULT and n == max(sizes):
                        per_skill[s] = v
            result["composed"][name][n] = {"mean": statistics.mean(accs), "oracle": statistics.mean(oracles),
                                           "worst_ratio": min(ratios), "worst_skill": worst_skill}
            comp_rows.append([name, n, pct(statistics.mean(accs)), pct(statistics.mean(oracles)),
                              f"{min(ratios):.3f} ({worst_skill[0]})"])
    skill_rows = [[s, pct(v["routing"]), pct(v["routed"]), pct(v["oracle"]), f"{v['routed'] / v['oracle']:.3f}"
                   if v["oracle"] else "-"] for s, v in sorted(per_skill.items())]
    result["per_skill"] = per_skill
    md += [f"Each trained LoRA is wrapped as a gene (`write_gene`, examples = its first {D.TRAIN_PER_SKILL} train "
           "prompts) and given its routing block with `route_gene` (the default encoder, from the card alone). "
           "Accuracy is teacher-forced exact match (`genehub.evaluate.exact_match`) on each skill's 128 rendered "
           "test rows (half in held-out phrasings), each row run with the gene its router picked (none: the bare "
           f"host). The library's composition routes those rows as the bench does on {100 * agree:.2f}% of them; "
           f"oracle exact match recomputed here for {check_skill}: {pct(oracle_check)}% (metrics.json: "
           f"{pct(result['oracle_check']['metrics.json'])}%).", "",
           table(["router", "genes", "composed %", "oracle %", "worst skill / oracle"], comp_rows), "",
           f"Per skill, the default router with all {max(sizes)} genes:", "",
           table(["skill", "routed to it %", "composed %", "oracle %", "composed / oracle"], skill_rows), ""]
    md += [f"### A gene the router never saw ({newcomer})", "",
           f"A live composition of {len(first)} genes gets `{names[newcomer]}` with `Composition.add_gene`: its "
           "adapter and, for routing, its card's prototypes and threshold (no training, no examples read). "
           f"Routing the prototypes in: {hot['router_ms']:.2f} ms (median of {hot['repeats']}); the whole "
           f"`add_gene` (PEFT loads the adapter, the fused engine is rebuilt): {hot['add_ms']:.0f} ms. Its held-out "
           f"prompts routed to it: {pct(hot['new_before'])}% before, {pct(hot['new_after'])}% after; the other "
           f"genes' held-out prompts routed right: {pct(hot['others_before'])}% before, {pct(hot['others_after'])}% "
           "after.", ""]
    comp.add_gene(genes[newcomer]) if names[newcomer] not in comp.genes else None
    for skill in trained[args.latency_genes:]:  # latency with the scale of genes, not every trained one
        comp.remove_gene(names[skill])
    if not args.skip_latency:
        lat_md, lat = latency(comp, data, args, host, FULL_SIZE)
        md += lat_md
        result["latency"] = lat
        lat_md, result["latency_circuit"] = circuit_latency(args, data, host, info, model, tokenizer, loras, trained)
        md += lat_md
    base_md, base = baselines(args, data, spaces, genes, trained, em, names, host, tokenizer)
    md += base_md
    result["baselines"] = base
    return md, result


FULL_SIZE = "skill LoRAs (rank 16, every linear module of 15 blocks: 9.6 MB each)"
CIRCUIT_SIZE = "extract-sized genes (rank 8 at 4 blocks: 0.7 MB each)"


def skill_genes(root: Path, skills: list[str], loras: dict[str, Path], data: dict[str, Any], host: Path, info: Any,
                model: Any, tokenizer: Any, *, circuit: bool = False) -> dict[str, Path]:
    """``{skill: gene folder}``: each skill's LoRA as a gene with the default routing block, made once
    (again when the LoRA was retrained or the routing recipe changed); ``circuit``: cut to extract size."""
    from genehub.routing.encoders import make_encoder
    from genehub.routing.prototypes import route_gene

    root.mkdir(parents=True, exist_ok=True)
    encoder = make_encoder("default", general=data["general_calibration"], model=model, tokenizer=tokenizer, host=info)
    genes = {}
    for skill in skills:
        gene = root / skill
        card = gene / "gene.json"
        made = json.loads(card.read_text()) if card.is_file() else {}
        if made.get("routing", {}).get("encoder") == encoder.spec and made.get("extra", {}).get("lora") == loras[skill].name:
            genes[skill] = gene
            continue
        shutil.rmtree(gene, ignore_errors=True)
        if circuit:
            genes[skill] = R.write_circuit_gene(skill, loras[skill], gene, host=host, host_info=info, tokenizer=tokenizer)
        else:
            genes[skill] = R.write_skill_gene(skill, loras[skill], gene, host_info=info, tokenizer=tokenizer)
        route_gene(genes[skill], data["general_calibration"], encoder=encoder, tokenizer=tokenizer)
    return genes


def circuit_latency(args: argparse.Namespace, data: dict[str, Any], host: Path, info: Any, model: Any, tokenizer: Any,
                    loras: dict[str, Path], trained: list[str]) -> tuple[list[str], dict[str, Any]]:
    """The latency rows again with extract-sized genes of the same skills."""
    skills = trained[:args.latency_genes]
    log(f"{len(skills)} extract-sized genes ...")
    genes = skill_genes(Path(args.genes + "-circuit"), skills, loras, data, host, info, model, tokenizer, circuit=True)
    md, out = latency(fresh_composition(host, [genes[s] for s in skills], data), data, args, host, CIRCUIT_SIZE)
    md.insert(2, "The same skills' LoRAs cut to the size of the genes `genehub extract` makes on this host (the "
                 "demo's: rank 8, the MLP of three blocks and the attention of one, 0.5-0.7 MB): the truncated SVD "
                 "of each LoRA's update at four blocks drawn per skill (`_routing_real.write_circuit_gene`). "
                 "Their accuracy is not measured: these rows are about the cost of composing genes of that size.")
    md.insert(3, "")
    return md, out


def fresh_composition(host: Path, gene_dirs: list[Path], data: dict[str, Any]) -> Any:
    """The genes composed on a host loaded for the composition alone (the bench's other copies stay bare)."""
    from genehub.routing import compose

    model, tokenizer = load_fresh(host)
    return compose(host, gene_dirs, model=model, tokenizer=tokenizer, none_prompts=data["general_calibration"])


def load_fresh(host: Path) -> tuple[Any, Any]:
    from genehub.hosts import load_host

    return load_host(host)


def hot_add(comp: Any, gene: Path, data: dict[str, Any], skill: str, names: dict[str, str]) -> dict[str, Any]:
    """Route before, add the gene (timed), route after; and time the router's part alone (add + remove)."""
    from genehub.routing.prototypes import load_prototypes

    others = [s for s in names if s != skill and names[s] in comp.genes]
    new_prompts = data["test"][skill]
    other_prompts = [(s, p) for s in others for p in data["test"][s]]

    def rates() -> tuple[float, float]:
        new = [d.gene for d in comp.route(new_prompts)]
        old = [d.gene for d in comp.route([p for _, p in other_prompts])]
        return (sum(g == names[skill] for g in new) / len(new),
                sum(g == names[s] for g, (s, _) in zip(old, other_prompts)) / len(old))

    before = rates()
    start = time.perf_counter()
    comp.add_gene(gene)
    add_ms = 1000 * (time.perf_counter() - start)
    after = rates()
    protos = load_prototypes(gene)
    router, times = comp.router, []
    for _ in range(50):
        router.remove(protos.name)
        start = time.perf_counter()
        router.add(protos)
        times.append(1000 * (time.perf_counter() - start))
    return {"add_ms": add_ms, "router_ms": statistics.median(times), "repeats": len(times),
            "new_before": before[0], "new_after": after[0], "others_before": before[1], "others_after": after[1]}


def latency(comp: Any, data: dict[str, Any], args: argparse.Namespace, host: Path, genes: str) -> tuple[list[str], dict[str, Any]]:
    """Bare host vs the composition (prototypes read in the pass; in their own pass; oracle genes), forward
    and 16-token generation, and the router alone, interleaved per batch size."""
    from _timing import interleaved, ratios

    from genehub.hosts import encode_prompts, load_host
    from genehub.routing.encoders import chat_texts

    bare, tok = load_host(host)
    skills = [s for s in sorted(data["test"])]
    pool = [p for i in range(8) for s in skills for p in data["test"][s][i:i + 1]]
    general = data["general_test"]
    rounds = {int(b): int(r) for b, r in (x.split(":") for x in args.rounds.split(","))}
    load0 = os.getloadavg()
    out: dict[str, Any] = {"rounds": rounds, "genes": len(comp.genes), "what": genes}
    md_rows = []
    for batch, reps in rounds.items():
        users = [general[i // 4] if i % 4 == 3 else pool[(i * 7) % len(pool)] for i in range(batch)]
        prompts = chat_texts(tok, users, "chat")
        enc = encode_prompts(tok, prompts)
        position_ids = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        oracle = [d.gene for d in comp.route(prompts)]
        gen = {"max_new_tokens": 16, "min_new_tokens": 16, "do_sample": False, "pad_token_id": tok.pad_token_id}
        driver = comp._driver
        captured: dict[str, torch.Tensor] = {}

        def own_pass(fn: Any) -> Any:
            def run() -> Any:
                comp.route_in_pass = False
                try:
                    return fn()
                finally:
                    comp.route_in_pass = True
            return run

        def router_alone() -> None:
            plan = driver.in_pass(comp.model, comp.tokenizer, prompts, enc, top_k=1)
            if "pooled" not in captured:  # the layer's pooled states, read once (in the pass they are free)
                from genehub.routing.features import host_features
                captured["pooled"] = host_features(comp.model, comp.tokenizer, prompts, layer=plan.layer,
                                                   pooling=plan.pooling, encoding={k: enc[k] for k in enc},
                                                   pool_mask=plan.pool_mask)
            plan.decide(captured["pooled"])

        with torch.no_grad():
            fns = {
                "bare forward": lambda: bare(**enc, position_ids=position_ids),
                "composed forward": lambda: comp.logits(prompts),
                "composed forward, router's own pass": own_pass(lambda: comp.logits(prompts)),
                "oracle genes forward": lambda: comp.logits(prompts, genes=oracle),
                "bare generate": lambda: bare.generate(**enc, **gen),
                "composed generate": lambda: comp.generate(prompts, max_new_tokens=16, min_new_tokens=16),
                "composed generate, router's own pass": own_pass(
                    lambda: comp.generate(prompts, max_new_tokens=16, min_new_tokens=16)),
                "router alone (MiniLM + decision; host part read in the pass)": router_alone,
                "router in its own pass (MiniLM + host to layer 12)": lambda: comp.route(prompts),
            }
            log(f"latency batch {batch} ({reps} rounds) ...")
            times, errors = interleaved(fns, reps)
        fwd = ratios({k: v for k, v in times.items() if "forward" in k}, "bare forward")
        gen_r = ratios({k: v for k, v in times.items() if "generate" in k}, "bare generate")
        share = ratios({k: times[k] for k in ("composed generate", "router alone (MiniLM + decision; host part read in the pass)",
                                              "router in its own pass (MiniLM + host to layer 12)")}, "composed generate")
        out[batch] = {"forward": fwd, "generate": gen_r, "router_share": share, "errors": errors,
                      "in_pass": comp.routes_in_pass, "prompt_tokens": int(enc["input_ids"].shape[1])}
        for name, r in {**fwd, **gen_r}.items():
            md_rows.append([batch, name, f"{r['ms']:.0f}", f"{r['ratio']:.3f} ({r['ratio_p25']:.3f}-{r['ratio_p75']:.3f})"])
        for name in ("router alone (MiniLM + decision; host part read in the pass)",
                     "router in its own pass (MiniLM + host to layer 12)"):
            r = share[name]
            md_rows.append([batch, f"{name} / composed generate", f"{r['ms']:.0f}",
                            f"{100 * r['ratio']:.2f}% ({100 * r['ratio_p25']:.2f}-{100 * r['ratio_p75']:.2f})"])
    out["load_before"], out["load_after"] = load0, os.getloadavg()
    md = [f"### Latency on SmolLM2 (CPU, one thread, {out['genes']} {genes} composed)", "",
          f"Each batch: held-out skill prompts and, every fourth row, a general prompt (routed to none), in the "
          "chat format; the composition routes by the genes' prototypes (the host part read inside the composed "
          "pass, MiniLM before it) on the fused engine; `own pass`: the router reads the host in a pass of its own "
          "first; `oracle genes`: the same genes per row given, no router. Functions interleaved in every round "
          f"(rounds {rounds}); ratio: median (quartiles) of the per-round ratio to the bare host (for the router: to "
          f"the composed generation). Load average {load0[0]:.1f} before, {out['load_after'][0]:.1f} after.", "",
          table(["batch", "what", "median ms", "ratio"], md_rows), ""]
    return md, out


def baselines(args: argparse.Namespace, data: dict[str, Any], spaces: dict[str, M.Space], genes: dict[str, Path],
              trained: list[str], em: Any, names: dict[str, str], host: Path, tokenizer: Any) -> tuple[list[str], dict[str, Any]]:
    """X-LoRA and Arrow (peft) on four of the genes, against the default router on the same four."""
    from _routing_baselines import build_arrow, train_xlora

    from genehub.evaluate import exact_match
    from genehub.gene import Gene

    four = M.draws(trained, min(4, len(trained)), 1, seed=7)[0]
    rows = {s: R.test_rows(s, tokenizer, data["test_rows"][s]) for s in four}
    ours = R.composed(em, four, decider(DEFAULT, spaces), {s: data["test_all"][s] for s in four})
    table_rows = [["oracle routing", *[pct(ours[s]["oracle"]) for s in four]],
                  ["genehub default router", *[pct(ours[s]["routed"]) for s in four]]]
    out: dict[str, Any] = {"skills": four, "default": ours}
    arrow = build_arrow(host, {s: genes[s] for s in four})
    if isinstance(arrow, str):
        out["arrow"] = arrow
        table_rows.append(["Arrow (peft, top-2)", *["not run"] * len(four)])
    else:
        try:
            acc = {s: sum(exact_match(arrow[0], tokenizer, rows[s], batch_size=32)) / len(rows[s]) for s in four}
            out["arrow"] = acc
            table_rows.append(["Arrow (peft, top-2)", *[pct(acc[s]) for s in four]])
        except Exception as err:  # peft's Arrow builds but cannot run layer-restricted adapters: reported
            out["arrow"] = f"built, fails on its first forward: {type(err).__name__}: {str(err)[:200]}"
            table_rows.append(["Arrow (peft, top-2)", *["failed"] * len(four)])
    if args.xlora_steps > 0:
        log("X-LoRA ...")
        from genehub.hosts import load_host

        bare, tok = load_host(host)
        general = data["general_calibration"][::max(1, len(data["general_calibration"]) // 48)][:48]
        formatted = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
                     for p in general]
        none_rows = [{"prompt": p, "answer": a} for p, a in zip(formatted, R.general_answers(bare, tok, formatted))]
        train_rows = [{"prompt": str(r["prompt"]), "answer": str(r["answer"])} for s in four
                      for r in Gene.load(genes[s]).examples()] + none_rows
        try:
            xmodel, _, info = train_xlora(host, {s: genes[s] for s in four}, train_rows, steps=args.xlora_steps,
                                          batch_size=8)
            acc = {s: sum(exact_match(xmodel, tokenizer, rows[s], batch_size=32)) / len(rows[s]) for s in four}
            out["xlora"], out["xlora_info"] = acc, info
            table_rows.append([f"X-LoRA (peft, {args.xlora_steps} steps)", *[pct(acc[s]) for s in four]])
        except Exception as err:  # a comparison's failure is a result to report
            out["xlora"] = f"{type(err).__name__}: {str(err)[:300]}"
            table_rows.append(["X-LoRA (peft)", *["failed"] * len(four)])
    md = ["### Other routers on four genes", "",
          f"Skills {', '.join(four)}; teacher-forced exact match on their 128 test rows, %. Arrow: "
          f"{out['arrow'] if isinstance(out['arrow'], str) else 'built'}; X-LoRA: its classifier trained with "
          f"next-token loss on the genes' examples and {48} general prompts with the host's own answers "
          f"({out.get('xlora_info', out.get('xlora', 'not run'))}).", "",
          table(["router", *four], table_rows), ""]
    return md, out


def targets(result: dict[str, Any]) -> list[str]:
    rows = []
    scale = result.get("scaling", {})
    for name in [] if not scale else (DEFAULT, FRONT, HOST, "trained head on the default's vectors", "today's trained head (host L22, last token)"):
        for n, goal in TARGETS.items():
            v = scale[name][n]["routed_mean"]
            rows.append([name, f"routing >= {100 * goal:.0f}% at {n} genes (held-out phrasings, mean)",
                         f"{pct(v)} (worst draw {pct(scale[name][n]['routed_worst'])})", "yes" if v >= goal else "**no**"])
        far = max(r["far_worst"] for r in scale[name].values())
        rows.append([name, "false activation <= 1% (worst draw, every size)", pct(far),
                     "yes" if far <= FAR_TARGET else "**no**"])
    if "composed" in result:
        comp = result["composed"][DEFAULT]
        worst = min(v["worst_ratio"] for v in comp.values())
        rows.append([DEFAULT, "composed accuracy >= 95% of oracle on every skill (every size and draw)",
                     f"{worst:.3f}", "yes" if worst >= 0.95 else "**no**"])
    for key in ("latency", "latency_circuit"):
        if key not in result or 32 not in result[key]:
            continue
        lat, genes = result[key][32], f"{result[key]['genes']} {result[key]['what']}"
        for what, part, name, goal in (("composed forward", "forward", "composed forward", 1.10),
                                       ("16-token generate", "generate", "composed generate", 1.10)):
            v = lat[part][name]["ratio"]
            rows.append([DEFAULT, f"{what} <= {goal:.2f}x the bare host, batch 32, {genes}",
                         f"{v:.3f}x", "yes" if v <= goal else "**no**"])
        v = lat["router_share"]["router alone (MiniLM + decision; host part read in the pass)"]["ratio"]
        rows.append([DEFAULT, f"router <= 3% of a 16-token generation, batch 32, {genes}", f"{100 * v:.2f}%",
                     "yes" if v <= 0.03 else "**no**"])
    if "hot_add" in result:
        v = result["hot_add"]["router_ms"]
        rows.append([DEFAULT, "adding a gene <= 50 ms, no training (its prototypes into the live router)",
                     f"{v:.2f} ms (whole add_gene with the adapter load: {result['hot_add']['add_ms']:.0f} ms)",
                     "yes" if v <= 50 else "**no**"])
    if not rows:  # a partial run (--misroutes-only) measures no target
        return []
    return ["### Against the issue's targets", "", table(["router", "target", "measured", "met"], rows), ""]


if __name__ == "__main__":
    raise SystemExit(main())
