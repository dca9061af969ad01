"""Latency of routed composition against the size of the host (for ``bench_routing.py``).

The zoo's hosts are tiny (88k and 670k parameters), so a few fixed costs per layer (Python, kernel
launches) dominate them and every ratio to the bare host says more about that than about LoRA or
routing. This section times the same code path on hosts of the zoo's family (Llama, the zoo's
tokenizer) from the tiny size up to ~13M parameters, with *random* weights: latency does not depend
on the values, so no training is needed, but nothing here measures accuracy.

Per host size and batch: the bare host; a mixed batch with oracle names (two genes of the benchmark's
shape, rank 16 on every linear module of every layer, and bare-host rows) run by genehub's fused engine
and by PEFT's mixed adapter batches; the routed composition (the router's features from the bare host
at its layer + a linear head, then the fused mixed batch, as :class:`genehub.routing.Composition`
does); and the router alone; for forward and 16-token greedy generation, interleaved like the rest of
the benchmark.

Routing inside the forward pass (:attr:`genehub.routing.Composition.routes_in_pass`) needs genes that
leave the blocks before the router's layer alone, so at router layer 1 the same host also gets two
genes on blocks 1 and up, timed four ways: oracle names with the batch grouped by gene (as the
composition orders it when it routes first), oracle names in the prompts' order (what routing inside
the pass must run: the rows cannot be reordered mid-pass, so the fused engine gathers each gene's rows by
index, or runs its masked products where that saves little),
routed in the router's own pass, and routed inside the pass. Inside the pass the router adds only the
pooling of the layer's output and the head, timed alone like "router only" (on that output, captured
once) and divided by the routed-inside-the-pass generation of the same round.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from genehub._tables import markdown_table

SIZES = ((64, 2, 4, 128), (128, 4, 4, 256), (256, 4, 4, 688), (512, 4, 8, 1376))  # hidden, layers, heads, mlp
MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def host_size_latency(prompts: list[str], batches: list[int], reps: int, gen_reps: int,
                      sizes: tuple[tuple[int, int, int, int], ...] = SIZES, device: str = "cpu") -> list[dict[str, Any]]:
    """One row per (host size, router layer, batch): ratios to the bare host and the router's share."""
    import torch
    from _timing import interleaved, ratios
    from peft import LoraConfig, get_peft_model

    from genehub.routing.features import features_in_pass, host_features, pool
    from genehub.routing.fused import FusedGenes
    from genehub.zoo import build_tokenizer
    from genehub.zoo.build import ModelSpec, _new_model

    tok = build_tokenizer()
    tok.padding_side = "left"
    gen = {"max_new_tokens": 16, "min_new_tokens": 16, "do_sample": False, "pad_token_id": tok.pad_token_id}
    rows = []
    for hidden, layers, heads, mlp in sizes:
        spec = ModelSpec(hidden, layers, heads, mlp)
        host = _new_model(spec, tok, seed=0).eval().to(device)
        plain = _new_model(spec, tok, seed=0).eval().to(device)  # the bare host, unwrapped (as users run it)
        params = sum(p.numel() for p in host.parameters())

        def with_genes(base: Any, blocks: list[int] | None) -> tuple[Any, FusedGenes]:
            config = LoraConfig(r=16, lora_alpha=32, target_modules=MODULES, init_lora_weights=False,
                                layers_to_transform=blocks, layers_pattern="layers" if blocks else None)
            wrapped = get_peft_model(base, config, adapter_name="gene-a")
            wrapped.add_adapter("gene-b", config)
            wrapped.to(device).eval()
            return wrapped, FusedGenes(wrapped, ["gene-a", "gene-b"])

        model, fused = with_genes(host, None)
        late, late_fused = with_genes(_new_model(spec, tok, seed=0).eval().to(device), list(range(1, layers)))
        router_layers = sorted({max(1, round(0.75 * layers)), 1})  # Router.train's default, and the earliest
        for b in batches:
            batch = [prompts[(i * 7) % len(prompts)] for i in range(b)]
            enc = tok(batch, return_tensors="pt", padding=True)
            enc = {k: enc[k].to(device) for k in ("input_ids", "attention_mask")}
            # Rows grouped by gene, as Composition orders a batch before running it.
            names = sorted(("gene-a", "gene-b", "__base__")[i % 3] for i in range(b))
            rows_w = [{} if n == "__base__" else {n: 1.0} for n in names]
            in_order = [({"gene-a": 1.0}, {"gene-b": 1.0}, {})[i % 3] for i in range(b)]  # not grouped
            with torch.no_grad():  # feature layer 1: the first block's output, as features_in_pass reads it
                layer_out = late(**enc, output_hidden_states=True).hidden_states[1]
            for layer in router_layers:
                head = torch.randn(3, hidden)  # the router's head runs on the CPU, as Router does

                def route(layer: int = layer, head: torch.Tensor = head, m: Any = model) -> None:
                    feats = host_features(m, tok, batch, layer=layer, pooling="last", encoding=enc)
                    torch.softmax(feats @ head.T, dim=-1).tolist()

                def bare(kind: str) -> Callable[[], Any]:
                    def fn() -> Any:
                        return plain(**enc) if kind == "forward" else plain.generate(**enc, **gen)
                    return fn

                def peft_mixed(kind: str) -> Callable[[], Any]:
                    def fn() -> Any:
                        if kind == "forward":
                            return model(**enc, adapter_names=names)
                        return model.generate(**enc, adapter_names=names, **gen)
                    return fn

                def mixed(kind: str, routed: bool, m: Any = model, f: FusedGenes = fused, rows: Any = rows_w
                          ) -> Callable[[], Any]:
                    def fn() -> Any:
                        if routed:
                            route(m=m)
                        with f.apply(rows):
                            return m(**enc) if kind == "forward" else m.generate(**enc, **gen)
                    return fn

                def router_in_pass(head: torch.Tensor = head, layer_out: torch.Tensor = layer_out) -> None:
                    """What routing adds inside the pass: pool the layer's output (as features_in_pass does), the head."""
                    feats = pool(layer_out.float(), enc["attention_mask"], "last").cpu()
                    torch.softmax(feats @ head.T, dim=-1).tolist()

                def in_pass(kind: str, head: torch.Tensor = head) -> Callable[[], Any]:
                    def fn() -> Any:
                        with ExitStack() as stack:
                            def express(feats: torch.Tensor) -> None:  # as Composition does, at the router's layer
                                torch.softmax(feats @ head.T, dim=-1).tolist()
                                stack.enter_context(late_fused.apply(in_order))

                            stack.enter_context(features_in_pass(late, enc["attention_mask"], layer=1,
                                                                 pooling="last", then=express))
                            return late(**enc) if kind == "forward" else late.generate(**enc, **gen)
                    return fn

                entry: dict[str, Any] = {"hidden": hidden, "layers": layers, "params_m": round(params / 1e6, 2),
                                         "router_layer": layer, "batch": b}
                with torch.no_grad():
                    for kind, n in (("forward", reps), ("generate", gen_reps)):
                        fns = {"bare host": bare(kind), "oracle": mixed(kind, False), "oracle peft": peft_mixed(kind),
                               "routed": mixed(kind, True), "router only": route}
                        if layer == 1:
                            fns.update({
                                "late oracle": mixed(kind, False, late, late_fused),
                                "late oracle in order": mixed(kind, False, late, late_fused, in_order),
                                "late routed": mixed(kind, True, late, late_fused),
                                "late in pass": in_pass(kind), "late router only": lambda: route(m=late),
                                "router in pass": router_in_pass})
                        times, _ = interleaved({k: _synced(f, device) for k, f in fns.items()}, n)
                        r = ratios(times, "bare host")
                        entry[f"{kind}_bare_ms"] = r["bare host"]["ms"]
                        for key, label in (("oracle", "oracle"), ("oracle_peft", "oracle peft"), ("routed", "routed"),
                                           ("late_oracle", "late oracle"), ("late_oracle_in_order", "late oracle in order"),
                                           ("late_routed", "late routed"), ("late_in_pass", "late in pass")):
                            if label in r:
                                entry[f"{kind}_{key}"] = r[label]["ratio"]
                        if kind == "generate":
                            entry["router_share_of_generate"] = _median_share(times["router only"], times["routed"])
                            if layer == 1:
                                entry["late_router_share_of_generate"] = _median_share(times["late router only"],
                                                                                       times["late routed"])
                                entry["in_pass_share_of_generate"] = _median_share(times["router in pass"],
                                                                                   times["late in pass"])
                rows.append(entry)
        del model, host, plain, late
    return rows


def _median_share(part: list[float], whole: list[float]) -> float:
    """Median over rounds of ``part / whole`` (each round's two timings side by side)."""
    share = sorted(a / w for a, w in zip(part, whole))
    return round(share[len(share) // 2], 4)


def _synced(fn: Callable[[], Any], device: str) -> Callable[[], Any]:
    """``fn`` that returns only once the device has finished its work (so a timer around it is honest)."""
    if not device.startswith("cuda"):
        return fn

    def run() -> Any:
        import torch

        out = fn()
        torch.cuda.synchronize()
        return out
    return run


def host_size_md(rows: list[dict[str, Any]]) -> str:
    header = ["host (hidden x layers)", "params", "router layer", "batch", "bare forward ms",
              "forward oracle / bare: fused, peft", "forward routed / bare", "bare generate-16 ms",
              "generate oracle / bare: fused, peft", "generate routed / bare", "router share of generate"]
    cells = [[f"{e['hidden']} x {e['layers']}", f"{e['params_m']}M", str(e["router_layer"]), str(e["batch"]),
              str(e["forward_bare_ms"]), f"{e['forward_oracle']:.2f}x, {e['forward_oracle_peft']:.2f}x",
              f"{e['forward_routed']:.2f}x", str(e["generate_bare_ms"]),
              f"{e['generate_oracle']:.2f}x, {e['generate_oracle_peft']:.2f}x", f"{e['generate_routed']:.2f}x",
              f"{100 * e['router_share_of_generate']:.1f}%"] for e in rows]
    return markdown_table([dict(zip(header, row)) for row in cells], header).rstrip("\n")


def in_pass_md(rows: list[dict[str, Any]]) -> str:
    """The router-layer-1 rows of :func:`host_size_latency` with genes from block 1 on (see the module's docstring)."""
    header = ["host (hidden x layers)", "params", "batch",
              "forward / bare: oracle grouped, oracle in order, routed own pass, routed in pass",
              "generate-16 / bare: oracle grouped, oracle in order, routed own pass, routed in pass",
              "router share of generate: own pass, in pass"]
    table = []
    for e in rows:
        if "forward_late_in_pass" not in e:
            continue
        ratios = {k: ", ".join(f"{e[f'{k}_{c}']:.2f}x" for c in ("late_oracle", "late_oracle_in_order", "late_routed",
                                                                   "late_in_pass")) for k in ("forward", "generate")}
        table.append(dict(zip(header, [f"{e['hidden']} x {e['layers']}", f"{e['params_m']}M", str(e["batch"]),
                                       ratios["forward"], ratios["generate"],
                                       f"{100 * e['late_router_share_of_generate']:.1f}%, "
                                       f"{100 * e['in_pass_share_of_generate']:.1f}%"])))
    return markdown_table(table, header).rstrip("\n")


def main(argv: list[str] | None = None) -> int:
    """Only this section, e.g. on a GPU: ``python bench/_routing_hostsize.py --device cuda --sizes 512x4 2048x8``."""
    import argparse
    import json

    from genehub.zoo.skills import sample

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", nargs="+", default=[f"{h}x{n}" for h, n, _, _ in SIZES],
                        help="HIDDENxLAYERS (heads = hidden/64, MLP = 2.7 x hidden)")
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--gen-reps", type=int, default=9)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    sizes = []
    for text in args.sizes:
        hidden, layers = (int(x) for x in text.lower().split("x"))
        sizes.append((hidden, layers, max(1, hidden // 64), int(2.6875 * hidden) // 8 * 8))
    prompts = [str(r["prompt"]) for r in sample(["sort", "upper", "copy", "length", "double"], 100, seed=3,
                                                heldout_share=0.5)]
    rows = host_size_latency(prompts, args.batches, args.reps, args.gen_reps, sizes=tuple(sizes), device=args.device)
    print(host_size_md(rows))
    print()
    print(in_pass_md(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
