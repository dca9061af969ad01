"""Markdown tables (and a scaling plot) for ``bench_routing.py``'s report dictionary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genehub._tables import markdown_table

TARGETS = "routing >= 98% held-out; composed >= 95% of oracle per skill; forward <= 1.15x bare at batch 32; " \
          "router <= 5% of a 16-token generate; ahead of X-LoRA and Arrow on accuracy and latency"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    return markdown_table([dict(zip(header, map(str, row))) for row in rows], header).rstrip("\n")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _accuracy_md(report: dict[str, Any]) -> str:
    acc = report["accuracy"]
    skills = [*report["skills"], "none"]
    oracle = acc["oracle routing"]
    rows = []
    for method, per in acc.items():
        if isinstance(per, str):
            rows.append([method, *["-"] * len(skills), "-", per])
            continue
        worst = min((per[s] / oracle[s] if oracle[s] else 1.0) for s in report["skills"])
        mean = sum(per[s] for s in skills) / len(skills)
        rows.append([method, *[_pct(per[s]) for s in skills], _pct(mean), f"{worst:.2f}"])
    return _table(["method", *[f"{s} %" for s in skills], "mean %", "worst skill / oracle"], rows)


def _latency_md(report: dict[str, Any]) -> str:
    parts = []
    for b, entry in report["latency"].items():
        rows = []
        for name in entry["forward"]:
            f, g = entry["forward"][name], entry["generate"].get(name, {})

            def cell(d: dict[str, Any]) -> str:
                if not d:
                    return "-"
                if "error" in d:
                    return "failed: " + d["error"][:80]
                return f"{d['ratio']:.2f}x [{d['ratio_p25']:.2f}-{d['ratio_p75']:.2f}]"

            rows.append([name, cell(f), f.get("ms", "-"), cell(g), g.get("ms", "-")])
        spread = entry.get("router_share_of_generate_p25_p75")
        parts.append(f"**batch {b}** (router share of a 16-token generate: "
                     f"{100 * entry['router_share_of_generate']:.1f}%"
                     + (f" [{100 * spread[0]:.1f}-{100 * spread[1]:.1f}]" if spread else "") + ")\n\n"
                     + _table(["method", "forward / bare (median [p25-p75])", "forward ms",
                               "generate-16 / bare", "generate ms"], rows))
    return "\n\n".join(parts)


def _scaling_md(report: dict[str, Any]) -> str:
    rows = []
    for e in report["scaling"]:
        if "error" in e:
            rows.append([e["genes"], e["error"], *["-"] * 8])
            continue
        rows.append([e["genes"], _pct(e["heldout_accuracy"]), _pct(e["all_accuracy"]),
                     f"{e['composed_over_oracle_mean']:.3f}", f"{e['composed_over_oracle_min']:.3f}",
                     e["router_train_seconds"], f"{e['forward_b32_ratio']:.2f}x", f"{e['generate_b8_ratio']:.2f}x",
                     e["router_ms_b8"], _pct(e["router_share_of_generate_b8"])
                     + (" [{}-{}]".format(*map(_pct, e["router_share_of_generate_b8_p25_p75"]))
                        if "router_share_of_generate_b8_p25_p75" in e else "")])
    return _table(["genes", "routing held-out %", "routing all %", "composed/oracle mean", "composed/oracle worst",
                   "router train s", "forward b32 / bare", "generate b8 / bare", "router ms b8",
                   "router % of generate b8"], rows)


def _plot(report: dict[str, Any], out: Path) -> str | None:
    points = [e for e in report["scaling"] if "error" not in e]
    if len(points) < 2:
        return None
    try:
        import matplotlib
        import matplotlib.ticker

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    n = [e["genes"] for e in points]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    a.plot(n, [100 * e["heldout_accuracy"] for e in points], "o-", label="held-out templates")
    a.plot(n, [100 * e["all_accuracy"] for e in points], "s--", label="all test prompts")
    a.axhline(98, color="grey", lw=0.8, ls=":", label="target 98%")
    a.set(xscale="log", xticks=n, xticklabels=[str(x) for x in n], xlabel="genes", ylabel="routing accuracy %")
    a.legend(fontsize=8)
    b.plot(n, [e["forward_b32_ratio"] for e in points], "o-", label="forward, batch 32")
    b.plot(n, [e["generate_b8_ratio"] for e in points], "s--", label="generate-16, batch 8")
    b.set(xscale="log", xticks=n, xticklabels=[str(x) for x in n], xlabel="genes", ylabel="time / bare host")
    b.legend(fontsize=8)
    for ax in (a, b):
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    fig.suptitle(f"genehub routing vs number of genes ({report['preset']} preset)")
    fig.tight_layout()
    fig.savefig(out / "scaling.png", dpi=110)
    plt.close(fig)
    return "scaling.png"


def render(report: dict[str, Any], out: Path) -> str:
    """The Markdown report; also writes ``out/scaling.png`` when matplotlib is there."""
    m, r = report["machine"], report["routing"]
    x = report.get("xlora")
    lat = report["latency"]
    plot = _plot(report, out)
    text = [
        f"Command: `{report['command']}` ({report['seconds']} s). Machine: {m['processor']}, {m['cpus']} CPUs "
        f"shared with other processes (load average {m['load_average_before'][0]} before, "
        f"{m['load_average_after'][0]} after), torch {m['torch']} with {m['torch_threads']} thread(s), "
        f"Python {m['python']}, {m['platform']}.",
        "",
        f"Preset `{report['preset']}`; genes {', '.join(report['genes'].values())} (rank-16 LoRAs on every layer and "
        f"linear module); {report['n_test']} test prompts per skill, half written with held-out templates. "
        f"Router: layer {report['router']['layer']}, `{report['router']['pooling']}` pooling, trained in "
        f"{report['router']['train_seconds']} s."
        + (f" X-LoRA: classifier ({x['trainable_params']} parameters) trained {x['steps']} steps x {x['batch_size']} "
           f"on the router's {x['num_rows']} prompts with answers, {x['train_seconds']} s, final loss {x['final_loss']}."
           if x else ""),
        "",
        "### Per-skill accuracy (exact match, %)",
        "",
        _accuracy_md(report),
        "",
        "\"none\" is the host's general skills (copy, length, double), for which no gene should be expressed. "
        "Static merges weight each gene 1/n (weights of 1.0 were worse for every method on these genes). X-LoRA "
        "has no \"none\" class: its softmax always mixes the genes, per token. Exact match is scored with one "
        "teacher-forced pass (equal to greedy decoding for every method here, X-LoRA included: its per-token "
        "scalings are causal).",
        "",
        f"Routing accuracy: **{_pct(r['heldout_accuracy'])}%** on {r['num_heldout']} held-out-template prompts, "
        f"{_pct(r['all_accuracy'])}% on all {r['num_all']} test prompts (classes: genes + none)."
        + (f" The same router trained at layer 1 (the earliest layer, which routing inside the forward pass "
           f"reads when the genes start at block 1): {_pct(r['layer1_heldout_accuracy'])}% on the held-out-template "
           f"prompts." if "layer1_heldout_accuracy" in r else ""),
        "",
        "### Latency (ratios to the bare host)",
        "",
        "Every row of a batch size was timed in one interleaved loop (rounds A B C ..., start rotated); a ratio is "
        "the median over rounds of row time / bare-host time of the same round, with the 25-75% range of those "
        "per-round ratios. Generate rows make exactly 16 new tokens (X-LoRA runs without KV cache: peft requires "
        "`use_cache=False`). \"router only\" is the routing decision alone (features + head).",
        "",
        _latency_md(report),
        "",
        "### Scaling with the number of genes",
        "",
        "Extra genes come from donors trained briefly (`--donor-steps`) on skills the host was never trained on "
        "(devowel, shift1..12, add, ...); the first genes are the zoo's. Held-out templates of the shift family "
        "(`caesarK x =`, `move x by K:`) share only the digit with the seen ones. \"composed/oracle\" is per-skill "
        "accuracy with the router's choice over accuracy with the right gene (mean and worst skill). Latency "
        "columns are medians of interleaved rounds like above (bare host, routed composition, router alone).",
        "",
        _scaling_md(report),
        "",
        f"![scaling]({plot})" if plot else "(no plot: matplotlib missing or fewer than two points)",
        "",
        *_host_sizes_section(report),
        "### Against the issue's targets",
        "",
        _targets_md(report, lat),
        "",
    ]
    return "\n".join(text)


def _host_sizes_section(report: dict[str, Any]) -> list[str]:
    if not report.get("host_sizes"):
        return []
    from _routing_hostsize import __doc__ as doc, host_size_md, in_pass_md

    parts = [p.replace("\n", " ") for p in (doc or "").split("\n\n")]
    return ["### Latency against the size of the host", "", " ".join(parts[1:3]), "", host_size_md(report["host_sizes"]),
            "", "### Routing inside the forward pass", "", " ".join(parts[3:4]), "", in_pass_md(report["host_sizes"]), ""]


def _targets_md(report: dict[str, Any], lat: dict[str, Any]) -> str:
    acc = report["accuracy"]
    g, o = acc["genehub router"], acc["oracle routing"]
    worst = min((g[s] / o[s] if o[s] else 1.0) for s in report["skills"])
    rows = [["routing accuracy, held-out templates", ">= 98%", f"{_pct(report['routing']['heldout_accuracy'])}%",
             report["routing"]["heldout_accuracy"] >= 0.98],
            ["composed / oracle, worst skill", ">= 0.95", f"{worst:.3f}", worst >= 0.95]]
    if "32" in lat:
        f32 = lat["32"]["forward"]["genehub router"]["ratio"]
        rows.append(["forward overhead, batch 32", "<= 1.15x", f"{f32:.2f}x", f32 <= 1.15])
        g32 = lat["32"]["generate"]["genehub router"]["ratio"]
        rows.append(["16-token generate overhead, batch 32", "<= 1.15x", f"{g32:.2f}x", g32 <= 1.15])
    big = [e for e in report.get("host_sizes", []) if e["batch"] == 32]
    if big:
        top = max(e["params_m"] for e in big)
        at_top = [e for e in big if e["params_m"] == top]
        best = min(at_top, key=lambda e: e["forward_routed"])
        rows.append([f"forward overhead, batch 32, {top}M-param random host (router layer {best['router_layer']})",
                     "<= 1.15x", f"{best['forward_routed']:.2f}x routed, {best['forward_oracle']:.2f}x oracle",
                     best["forward_routed"] <= 1.15])
        share_top = min(e["router_share_of_generate"] for e in at_top)
        rows.append([f"router share of a 16-token generate, batch 32, {top}M-param random host", "<= 5%",
                     f"{100 * share_top:.1f}%", share_top <= 0.05])
        late = [e for e in at_top if "forward_late_in_pass" in e]
        if late:
            e = late[0]
            early = report["routing"].get("layer1_heldout_accuracy")
            caveat = f"; latency only: on the zoo's host a layer-1 router routes {_pct(early)}% of held-out " \
                     "prompts" if early is not None else ""
            rows.append([f"forward overhead, batch 32, {top}M-param random host, routed inside the pass (genes from "
                         f"block 1, router layer 1{caveat})", "<= 1.15x", f"{e['forward_late_in_pass']:.2f}x",
                         e["forward_late_in_pass"] <= 1.15])
            rows.append(["16-token generate overhead, same", "<= 1.15x", f"{e['generate_late_in_pass']:.2f}x",
                         e["generate_late_in_pass"] <= 1.15])
            rows.append(["router share of a 16-token generate, same", "<= 5%",
                         f"{100 * e['in_pass_share_of_generate']:.1f}%", e["in_pass_share_of_generate"] <= 0.05])
    share = max(e["router_share_of_generate"] for e in lat.values())
    rows.append(["router share of a 16-token generate (worst batch)", "<= 5%", f"{100 * share:.1f}%", share <= 0.05])
    mean = {k: sum(v.values()) / len(v) for k, v in acc.items() if not isinstance(v, str)}
    for rival in [k for k in acc if k.startswith(("x-lora", "arrow"))]:
        if rival not in mean:
            rows.append([f"ahead of {rival}", "accuracy and latency", "not measured", False])
            continue
        slower = all(e["forward"].get(rival, {}).get("ratio", 0) > e["forward"]["genehub router"]["ratio"]
                     for e in lat.values())
        rows.append([f"ahead of {rival}", "accuracy and forward latency",
                     f"mean acc {_pct(mean['genehub router'])}% vs {_pct(mean[rival])}%; "
                     f"{'faster' if slower else 'not faster'} at every batch",
                     mean["genehub router"] > mean[rival] and slower])
    return _table(["target", "goal", "measured", "met"], [[*r[:3], "yes" if r[3] else "**no**"] for r in rows])
