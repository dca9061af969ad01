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
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

SIZES = ((64, 2, 4, 128), (128, 4, 4, 256), (256, 4, 4, 688), (512, 4, 8, 1376))  # hidden, layers, heads, mlp
MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def host_size_latency(prompts: list[str], batches: list[int], reps: int, gen_reps: int,
                      interleaved: Callable[..., Any], ratios: Callable[..., Any],
                      sizes: tuple[tuple[int, int, int, int], ...] = SIZES, device: str = "cpu") -> list[dict[str, Any]]:
    """One row per (host size, router layer, batch): ratios to the bare host and the router's share."""
    import torch
    from peft import LoraConfig, get_peft_model

    from genehub.routing.features import host_features
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
        config = LoraConfig(r=16, lora_alpha=32, target_modules=MODULES, init_lora_weights=False)
        model = get_peft_model(host, config, adapter_name="gene-a")
        model.add_adapter("gene-b", config)
        model.to(device).eval()
        fused = FusedGenes(model, ["gene-a", "gene-b"])
        router_layers = sorted({max(1, round(0.75 * layers)), 1})  # Router.train's default, and the earliest
        for b in batches:
            batch = [prompts[(i * 7) % len(prompts)] for i in range(b)]
            enc = tok(batch, return_tensors="pt", padding=True)
            enc = {k: enc[k].to(device) for k in ("input_ids", "attention_mask")}
            # Rows grouped by gene, as Composition orders a batch before running it.
            names = sorted(("gene-a", "gene-b", "__base__")[i % 3] for i in range(b))
            rows_w = [{} if n == "__base__" else {n: 1.0} for n in names]
            for layer in router_layers:
                head = torch.randn(3, hidden)  # the router's head runs on the CPU, as Router does

                def route(layer: int = layer, head: torch.Tensor = head) -> None:
                    feats = host_features(model, tok, batch, layer=layer, pooling="last", encoding=enc)
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

                def mixed(kind: str, routed: bool) -> Callable[[], Any]:
                    def fn() -> Any:
                        if routed:
                            route()
                        with fused.apply(rows_w):
                            return model(**enc) if kind == "forward" else model.generate(**enc, **gen)
                    return fn

                entry: dict[str, Any] = {"hidden": hidden, "layers": layers, "params_m": round(params / 1e6, 2),
                                         "router_layer": layer, "batch": b}
                with torch.no_grad():
                    for kind, n in (("forward", reps), ("generate", gen_reps)):
                        fns = {"bare host": bare(kind), "oracle": mixed(kind, False), "oracle peft": peft_mixed(kind),
                               "routed": mixed(kind, True), "router only": route}
                        times, _ = interleaved({k: _synced(f, device) for k, f in fns.items()}, n)
                        r = ratios(times, "bare host")
                        entry[f"{kind}_bare_ms"] = r["bare host"]["ms"]
                        entry[f"{kind}_oracle"] = r["oracle"]["ratio"]
                        entry[f"{kind}_oracle_peft"] = r["oracle peft"]["ratio"]
                        entry[f"{kind}_routed"] = r["routed"]["ratio"]
                        if kind == "generate":
                            share = sorted(a / g for a, g in zip(times["router only"], times["routed"]))
                            entry["router_share_of_generate"] = round(share[len(share) // 2], 4)
                rows.append(entry)
        del model, host, plain
    return rows


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
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for e in rows:
        lines.append(f"| {e['hidden']} x {e['layers']} | {e['params_m']}M | {e['router_layer']} | {e['batch']} | "
                     f"{e['forward_bare_ms']} | {e['forward_oracle']:.2f}x, {e['forward_oracle_peft']:.2f}x | "
                     f"{e['forward_routed']:.2f}x | {e['generate_bare_ms']} | {e['generate_oracle']:.2f}x, "
                     f"{e['generate_oracle_peft']:.2f}x | {e['generate_routed']:.2f}x | "
                     f"{100 * e['router_share_of_generate']:.1f}% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Only this section, e.g. on a GPU: ``python bench/_routing_hostsize.py --device cuda --sizes 512x4 2048x8``."""
    import argparse
    import json
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
    from bench_routing import _interleaved, _ratios

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
    rows = host_size_latency(prompts, args.batches, args.reps, args.gen_reps, _interleaved, _ratios,
                             sizes=tuple(sizes), device=args.device)
    print(host_size_md(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
