"""Builders shared by the Space tests: signed zoo genes in a folder or a registry, a foreign host, the data
source a Space test runs on (:class:`SpaceCase`), a running Space.

``gene_shelf(tmp_path_factory, zoo)`` builds the shelf below once per session for every Space test module.

``real_case(root, real_gene)`` serves a real gene on the real host (SmolLM2) and Gemma instead.

``build_gene_shelf(root, zoo)`` copies the real zoo genes of ``tests/_genes.py`` (sort and upper, on the
tiny zoo's host) and signs them into four cases:

| gene | signed by | status in a store that trusts alice |
| --- | --- | --- |
| sort-gene | alice | verified |
| upper-gene | alice | verified |
| rogue-upper | mallory | untrusted |
| tampered-sort | alice, then its weights changed | invalid |
"""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRUSTED = ("sort-gene", "upper-gene")
HOST = "genehub-zoo/tiny-host"  # the tiny zoo host's repo id, as the Space labels it
HETEROLOGOUS = "genehub-zoo/tiny-heterologous"  # same shapes and tokenizer, another model: fits no zoo gene
_SHELVES: dict[str, dict[str, Any]] = {}


def gene_shelf(tmp_path_factory: Any, zoo: Any) -> dict[str, Any]:
    """:func:`build_gene_shelf` plus a :func:`foreign_host`, built once per test session and zoo.

    The Space tests only read these files (registries and caches get copies), so every module shares
    one shelf instead of signing the same genes again. Returns a new dict each call.
    """
    key = str(zoo.host)
    if key not in _SHELVES:
        root = tmp_path_factory.mktemp("space-shelf")
        built = build_gene_shelf(root, zoo)
        built.update(foreign=foreign_host(root / "foreign-host"), zoo=zoo)
        _SHELVES[key] = built
    return dict(_SHELVES[key])


def build_gene_shelf(root: Path, zoo: Any) -> dict[str, Any]:
    """Write the four genes above under ``root/genes`` and a trust store trusting alice under ``root/trust``.

    Returns:
        ``{"genes": folder, "trust": trust folder, "keys": {name: KeyPaths}}``.
    """
    from genehub.gene import TrustStore, new_key, sign_gene

    from _genes import cached_genes

    keys = {name: new_key(name, directory=root / "keys") for name in ("alice", "mallory")}
    genes = root / "genes"
    made = cached_genes(zoo, ["sort", "upper"])
    sort_gene = Path(shutil.copytree(made["sort"], genes / "sort-gene"))
    upper_gene = Path(shutil.copytree(made["upper"], genes / "upper-gene"))
    sign_gene(sort_gene, key=keys["alice"].private, repo_id="zoo/sort-gene")  # the repos publish_shelf uses
    sign_gene(upper_gene, key=keys["alice"].private, repo_id="zoo/upper-gene")
    rogue = Path(shutil.copytree(upper_gene, genes / "rogue-upper"))
    sign_gene(rogue, key=keys["mallory"].private, repo_id="zoo/rogue-upper")
    tampered = Path(shutil.copytree(sort_gene, genes / "tampered-sort"))
    weights = tampered / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    TrustStore(root / "trust").add("alice", keys["alice"].public)
    return {"genes": genes, "trust": root / "trust", "keys": keys}


def publish_shelf(shelf: dict[str, Any], registry: Any, *, extra: dict[str, dict[str, Path]] | None = None) -> Any:
    """Push the shelf's genes to ``registry`` (a Registry, or a folder for a local one) as ``zoo/<gene>``.

    The verified and untrusted genes go through ``genehub.registry.push`` (which verifies them first);
    the tampered one (and each ``extra`` repo, ``{repo_id: {path in repo: file}}``) is committed with the
    registry's low-level ``commit``, as a compromised upstream would. Returns ``registry``.
    """
    from genehub.gene import TrustStore
    from genehub.registry import LocalRegistry, Registry, push

    reg = registry if isinstance(registry, Registry) else LocalRegistry(registry)
    for name in TRUSTED:
        push(shelf["genes"] / name, f"zoo/{name}", registry=reg, trust=TrustStore(shelf["trust"]))
    mallory = TrustStore(shelf["trust"].parent / "mallory-trust")
    mallory.add("mallory", shelf["keys"]["mallory"].public)
    push(shelf["genes"] / "rogue-upper", "zoo/rogue-upper", registry=reg, trust=mallory)
    tampered = shelf["genes"] / "tampered-sort"
    planted = {"zoo/tampered-sort": {p.name: p for p in sorted(tampered.iterdir())}, **(extra or {})}
    for repo_id, files in planted.items():
        reg.ensure_repo(repo_id)
        reg.commit(repo_id, files=files, deleted=[], message="Publish gene sort-gene 0.1.0", parent=None)
    return registry


def foreign_host(out: Path) -> Path:
    """A tiny Llama with the zoo's tokenizer but hidden size 32: no zoo gene fits it."""
    import json

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from genehub.zoo import build_tokenizer

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=4, intermediate_size=64, max_position_embeddings=64,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.bos_token_id, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "genehub.json").write_text(json.dumps({"repo_id": "other/narrow-host", "license": "apache-2.0"}))
    return out


def facts(header: str) -> dict[str, str]:
    """The facts row of a gene page's header (``genehub.space.genepage.header_markdown``): ``{name: cell}``."""
    names, _, values = [line.strip("|").split(" | ") for line in header.splitlines() if line.startswith("|")][:3]
    return {n.strip(): v.strip() for n, v in zip(names, values)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SpaceCase:
    """A data source for the Space and what a visitor should see on it: the Space tests take one of these,
    so the same tests run on the tiny zoo's genes now and on another preset's (real models) later.

    Attributes:
        name: the case's id in test names.
        data: the genes and hosts the Space serves.
        host: the host the verified genes fit, which Try must start on.
        unfit: hosts served that fit no gene (at least one sorts before ``host``: a default by name would pick it).
        prompt, routed, answer: an example prompt, the gene the router sends it to, and its expected answer,
            which that gene gives and the host alone does not.
        zoo_preset: the zoo preset that builds the genes' host (its page says how), or None.
        extra: anything else a case knows (``silent_prompt``: a prompt the host alone answers with nothing).
    """

    name: str
    data: Any
    host: str
    unfit: list[str]
    prompt: str
    routed: str
    answer: str
    zoo_preset: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def tiny_case(root: Path, shelf: dict[str, Any]) -> SpaceCase:
    """The shelf's four genes in a local registry under ``root``; the tiny zoo's host, its heterologous twin
    (same shapes, another model) and a narrower foreign host for Try."""
    from genehub.space import SpaceData, open_catalog

    registry = publish_shelf(shelf, root / "registry")
    catalog = open_catalog(str(registry), trust=shelf["trust"], cache=root / "space-cache")
    zoo = shelf["zoo"]
    hosts = {HOST: zoo.host, HETEROLOGOUS: zoo.heterologous, "other/narrow-host": shelf["foreign"]}
    return SpaceCase("tiny", SpaceData(catalog, hosts), host=HOST, unfit=[HETEROLOGOUS, "other/narrow-host"],
                     prompt="upper yxe:", routed="zoo/upper-gene", answer="YXE", zoo_preset="tiny",
                     extra={"registry": registry, "silent_prompt": "=", **shelf})


REAL_HOST = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the real preset's host, as the Space labels it
REAL_HETEROLOGOUS = "google/gemma-3-270m"  # the real preset's heterologous host: fits no SmolLM2 gene


def real_case(root: Path, made: Any, *, tries: int = 8) -> SpaceCase:
    """A real gene (``tests/_real.py``'s :class:`RealGene`) in its local registry; the real host and Gemma
    for Try. The case's prompt is the first of the gene's example requests that the gene answers exactly and
    the host alone does not, as plain transformers and PEFT answer them (the premise is checked here)."""
    from genehub.space import SpaceData, open_catalog
    from genehub.zoo import real

    from _real import REPO_ID

    catalog = open_catalog(str(made.registry), trust=made.trust, cache=root / "space-cache")
    hosts = {REAL_HOST: made.host, REAL_HETEROLOGOUS: real.heterologous_path()}
    rows = catalog.get(REPO_ID).examples[:tries]
    answers = plain_answers(made.host, made.gene, [r["prompt"] for r in rows])
    found = [r for r, (alone, gene) in zip(rows, answers) if gene.strip() == r["answer"] != alone.strip()]
    assert found, f"the real gene answers none of its first {tries} examples that the host alone misses: {answers}"
    return SpaceCase("real", SpaceData(catalog, hosts), host=REAL_HOST, unfit=[REAL_HETEROLOGOUS],
                     prompt=found[0]["text"], routed=REPO_ID, answer=found[0]["answer"],
                     extra={"registry": made.registry, "trust": made.trust})


def plain_answers(host: Path, gene: Path, prompts: list[str], max_new_tokens: int = 12) -> list[tuple[str, str]]:
    """``(host alone, host + gene)`` greedy answers with plain transformers and PEFT, without genehub."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(host)
    tokenizer.padding_side = "left"
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(host, dtype=torch.float32), str(gene)).eval()
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)

    def answers() -> list[str]:
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        return [tokenizer.decode(row[enc["input_ids"].shape[1]:], skip_special_tokens=True) for row in out]

    with model.disable_adapter():
        alone = answers()
    return list(zip(alone, answers()))


def launch_space(data: Any, *, max_new_tokens: int = 12) -> tuple[Any, str]:
    """Launch the Space over ``data`` (a :class:`genehub.space.SpaceData`) on a free loopback port."""
    from genehub.space import Playground, build_app

    demo = build_app(data.catalog, Playground(data.catalog, data.hosts, max_new_tokens=max_new_tokens))
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                ssr_mode=False)
    return demo, demo.local_url
