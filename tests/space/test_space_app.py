"""Every API endpoint of the Space, called with gradio_client against a live app serving the tiny zoo's genes.

The tiny case's own genes (an untrusted and a tampered one beside two verified) are what these tests check;
``test_space_visitor.py`` holds the tests that run on every data source.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _space import HETEROLOGOUS, HOST, facts, gene_shelf, launch_space, tiny_case

ENDPOINTS = {"/refresh", "/reload", "/browse", "/select_gene", "/inspect", "/try_gene", "/examples", "/use_example", "/try"}
ALL = ["zoo/rogue-upper", "zoo/sort-gene", "zoo/tampered-sort", "zoo/upper-gene"]


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory, tiny_zoo) -> Iterator[tuple[Any, dict]]:
    from gradio_client import Client

    case = tiny_case(tmp_path_factory.mktemp("space-app"), gene_shelf(tmp_path_factory, tiny_zoo))
    demo, url = launch_space(case.data)
    try:
        yield Client(url, verbose=False), case.extra
    finally:
        demo.close()


@pytest.fixture
def client(space: tuple[Any, dict]) -> Any:
    return space[0]


def _value(update: Any) -> Any:
    """A component update's value (gradio_client returns updates as dicts)."""
    return update["value"] if isinstance(update, dict) and update.get("__type__") == "update" else update


def _choices(update: Any) -> list[str]:
    return [c[1] for c in update["choices"]]


def _table(value: Any) -> list[dict]:
    return [dict(zip(value["headers"], row)) for row in value["data"]]


def test_every_endpoint_is_named(client: Any) -> None:
    assert set(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == ENDPOINTS


@pytest.mark.parametrize("api_name", ["/refresh", "/reload"])
def test_refresh_lists_genes_and_filters(client: Any, api_name: str) -> None:
    f_host, f_skill, f_license, f_trust, gene, host, genes, example, table, message = client.predict(api_name=api_name)
    assert [row["gene"] for row in _table(table)] == ALL
    assert message.startswith("4 genes from") and "(2 verified)" in message
    assert (_value(gene), _value(host), _value(genes)) == ("zoo/sort-gene", HOST, ["zoo/sort-gene"])
    assert _choices(host) == [HETEROLOGOUS, HOST, "other/narrow-host"]
    assert _choices(f_skill) == ["(any)", "sort", "upper"] and _choices(f_trust)[1:] == ["verified", "untrusted", "invalid"]
    assert _value(f_host) == _value(f_license) == "(any)"


@pytest.mark.parametrize("query, host, skill, license, trust, expected", [
    ("", "(any)", "(any)", "(any)", "(any)", ALL),
    ("upper", "(any)", "(any)", "(any)", "verified", ["zoo/upper-gene"]),
    ("", HOST, "sort", "Apache-2.0", "(any)", ["zoo/sort-gene", "zoo/tampered-sort"]),
    ("", "(any)", "(any)", "(any)", "untrusted", ["zoo/rogue-upper"]),
    ("zzz", "(any)", "(any)", "(any)", "(any)", []),
])
def test_browse(client: Any, query: str, host: str, skill: str, license: str, trust: str, expected: list[str]) -> None:
    table, message = client.predict(query, host, skill, license, trust, api_name="/browse")
    rows = _table(table)
    assert [r["gene"] for r in rows] == expected
    assert message == f"{len(expected)} of 4 genes match."
    assert all(r["signature"] in {"verified", "untrusted", "invalid"} for r in rows)


def test_inspect_verified_gene(client: Any, space: tuple[Any, dict]) -> None:
    (_, pull, _, _, _, homology, fidelity, _, _, signer, lineage, card,
     message) = client.predict("zoo/sort-gene", api_name="/inspect")
    assert re.fullmatch(rf"genehub zoo build --preset tiny --out ./zoo   # writes {HOST} to ./zoo/host\n"
                        rf"genehub pull zoo/sort-gene@[0-9a-f]{{40}} --registry {space[1]['registry']} --host ./zoo/host",
                        pull)
    assert "`alice` (in your trust store)" in signer and "sha256:" in signer
    assert homology["type"] == "matplotlib" and homology["plot"].startswith("data:image/")
    rows = _table(fidelity)
    assert rows[0]["skill"] == "sort" and rows[0]["host + gene"] > rows[0]["host"]  # the gene helps on its skill
    assert "genehub-zoo/tiny-donor-sort" in lineage and "<svg" in lineage
    assert "# sort-gene 0.1.0" in card
    assert message.startswith("`zoo/sort-gene` (sort-gene 0.1.0): **Signature: verified.**")


@pytest.mark.parametrize("gene_id, status", [("zoo/tampered-sort", "invalid"), ("zoo/rogue-upper", "untrusted")])
def test_inspect_unverified_gene_says_why(client: Any, gene_id: str, status: str) -> None:
    header, _, _, caption, gallery, *_, card, message = client.predict(gene_id, api_name="/inspect")
    banner = f"`{gene_id}` (sort-gene 0.1.0)" if "sort" in gene_id else f"`{gene_id}` (upper-gene 0.1.0)"
    assert message.startswith(f"{banner}: **Signature: {status}**") and card.startswith(message)
    assert facts(header)["signature"] == ("✗ invalid" if status == "invalid" else "! untrusted")
    # its weights are never loaded: the gallery shows the expected answers, no outputs
    assert "verified genes only" in caption and f"this one is {status}" in caption
    rows = _table(gallery)
    assert rows and all(r["host alone"] == r["host + gene"] == r["gene right?"] == "-" for r in rows)


def test_inspect_unknown_gene_is_a_message(client: Any) -> None:
    *_, message = client.predict("zoo/rogue-upper", api_name="/inspect")  # a valid choice...
    *_, message = client.predict("no-such-gene", api_name="/inspect")  # ...and one that is not
    assert "No gene 'no-such-gene'" in message and "Traceback" not in message


def test_select_gene_from_the_table(client: Any) -> None:
    from gradio_client.exceptions import AppError

    # A table click carries event data that only a browser sends; the browser test covers the click.
    with pytest.raises(AppError):
        client.predict(api_name="/select_gene")


def test_try_gene_picks_a_fitting_host(client: Any) -> None:
    genes, host, message = client.predict("zoo/upper-gene", api_name="/try_gene")  # Tabs is layout: not returned
    assert (_value(genes), _value(host)) == (["zoo/upper-gene"], HOST)
    assert message == f"Trying `zoo/upper-gene` on `{HOST}`."


def _first_prompts(gene: Path, n: int = 5) -> list[str]:
    lines = (gene / "examples.jsonl").read_text().splitlines()[:n]
    return [json.loads(line)["prompt"] for line in lines]


def test_examples_come_from_the_genes(client: Any, space: tuple[Any, dict]) -> None:
    example, message = client.predict(["zoo/sort-gene", "zoo/upper-gene"], api_name="/examples")
    assert message == ""
    prompts = _choices(example)
    assert len(prompts) == 10 and prompts[:5] == _first_prompts(space[1]["genes"] / "sort-gene")
    assert client.predict(prompts[6], api_name="/use_example") == prompts[6]


@pytest.mark.parametrize("host, genes, prompt, match", [
    (HOST, ["zoo/sort-gene"], "", "prompt is empty"),
    (HOST, ["zoo/tampered-sort"], "sort dcba:", "tampered-sort cannot be used"),
    ("other/narrow-host", ["zoo/sort-gene"], "sort dcba:", "does not fit host other/narrow-host"),
    (HETEROLOGOUS, ["zoo/sort-gene"], "sort dcba:", "host: the gene was made for 'genehub-zoo/tiny-host'"),
    (HOST, ["zoo/nothing"], "sort dcba:", "No gene 'zoo/nothing'"),
])
def test_try_errors_are_messages(client: Any, host: str, genes: list[str], prompt: str, match: str) -> None:
    *_, message = client.predict(host, genes, prompt, api_name="/try")
    assert message.startswith("**⚠️ ") and match in message and "Traceback" not in message


def _peft_answers(host: Path, genes: dict[str, Path], prompt: str) -> dict[str | None, str]:
    """Greedy answers of the host alone (key None) and with each gene applied by plain PEFT."""
    from peft import PeftModel

    from genehub.hosts import load_host
    from genehub.evaluate import greedy_answers

    model, tokenizer = load_host(host)
    answers = {None: greedy_answers(model, tokenizer, [prompt], max_new_tokens=12)[0]}
    for name, gene in genes.items():
        with_gene = PeftModel.from_pretrained(load_host(host)[0], str(gene)).eval()
        answers[name] = greedy_answers(with_gene, tokenizer, [prompt], max_new_tokens=12)[0]
    return answers


@pytest.mark.parametrize("prompt, routed", [("upper xyz:", "zoo/upper-gene"), ("sort dcba:", "zoo/sort-gene")])
def test_try_shows_router_and_both_outputs(client: Any, space: tuple[Any, dict], prompt: str, routed: str) -> None:
    router, base, composed, latency, message = client.predict(HOST, ["zoo/sort-gene", "zoo/upper-gene"], prompt,
                                                              api_name="/try")
    assert message == ""
    assert router["label"] == routed
    bars = {c["label"]: c["confidence"] for c in router["confidences"]}
    assert set(bars) == {"zoo/sort-gene", "zoo/upper-gene", "none"} and max(bars, key=bars.get) == routed
    assert sum(bars.values()) == pytest.approx(1.0, abs=1e-3)
    assert re.search(rf"Router:\*\* `{routed}`.*host alone \d+ ms, host \+ genes \d+ ms", latency)
    # The same answers as the host alone and the routed gene applied by plain PEFT, without genehub.
    shelf = space[1]
    expected = _peft_answers(shelf["zoo"].host, {routed: shelf["genes"] / routed.split("/")[1]}, prompt)
    assert (base, composed) == (expected[None], expected[routed])
    assert composed != base  # the zoo host alone gets these wrong; the gene fixes it
    if routed == "zoo/upper-gene":
        assert composed == "XYZ"
