"""The Space as a visitor meets it, through ``gradio_client`` from a fresh client per test (no ``/refresh`` first).

Every test runs once per data source of ``conftest.CASES`` (the tiny zoo's genes now; a preset of real
models later) and reads what to expect from the :class:`_space.SpaceCase`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest

from _space import SpaceCase, facts, plain_answers

# an absolute path (what a visitor must never see): a slash-separated run starting with "/", not part of a URL
SERVER_PATH = re.compile(r"(?<![\w.:/~-])/(?:[\w.@+~-]+/)+")


def _client(url: str) -> Any:
    from gradio_client import Client

    return Client(url, verbose=False)


def _value(update: Any) -> Any:
    return update["value"] if isinstance(update, dict) and update.get("__type__") == "update" else update


def _table(value: Any) -> list[dict]:
    return [dict(zip(value["headers"], row)) for row in value["data"]]


def _verified(case: SpaceCase) -> list[str]:
    return [e.gene_id for e in case.data.catalog.entries() if e.trust == "verified"]


def _examples(case: SpaceCase, gene_id: str) -> list[dict]:
    return case.data.catalog.get(gene_id).examples


def _unescaped(markdown: str) -> str:
    """Markdown without its backslash escapes (a gene named ``next_day-gene`` is written ``next\\_day-gene``)."""
    return re.sub(r"\\([\\`*_{}\[\]()#+.!|-])", r"\1", markdown)


def _request(row: dict) -> str:
    """An example as a visitor reads it: a chat gene's request (``text``), else the prompt itself."""
    return row.get("text") or row["prompt"]


@pytest.mark.parametrize("endpoint", ["/examples", "/try", "/inspect", "/try_gene"])
def test_each_endpoint_works_from_a_fresh_client(live_space: tuple[SpaceCase, str], endpoint: str) -> None:
    case, url = live_space
    client = _client(url)  # never called /refresh: the pickers must accept the catalog's genes and hosts as built
    if endpoint == "/examples":
        example, message = client.predict([case.routed], api_name=endpoint)
        rows = _examples(case, case.routed)[:5]
        assert message == "" and _value(example) is None
        assert example["choices"] == [[f"{_request(r)}  →  {r['answer']}", _request(r)] for r in rows]
    elif endpoint == "/try":
        *_, composed, _, message = client.predict(case.host, [case.routed], case.prompt, api_name=endpoint)
        assert (message, composed) == ("", case.answer)
    elif endpoint == "/inspect":
        *_, message = client.predict(case.routed, api_name=endpoint)
        assert message.startswith(f"`{case.routed}`")
    else:
        genes, host, message = client.predict(case.routed, api_name=endpoint)
        assert (_value(genes), _value(host)) == ([case.routed], case.host)


def test_try_starts_on_a_host_the_genes_fit(live_space: tuple[SpaceCase, str]) -> None:
    case, url = live_space
    *_, gene, host, genes, example, table, message = _client(url).predict(api_name="/refresh")
    verified = _verified(case)
    if case.name == "tiny":
        assert min(case.unfit) < case.host  # a default by name would pick a host that fits no gene
    assert (_value(host), _value(genes), _value(gene)) == (case.host, verified[:1], verified[0])
    labels = dict((value, label) for label, value in host["choices"])
    assert all(labels[u].endswith("(fits 0 genes here)") for u in case.unfit)
    assert re.search(r"\(fits [1-9]\d* genes? here\)$", labels[case.host])
    assert example["choices"] and all("  →  " in label for label, _ in example["choices"])


def test_the_banner_names_the_gene_it_describes(live_space: tuple[SpaceCase, str]) -> None:
    case, url = live_space
    client = _client(url)
    for gene_id in _verified(case):
        entry = case.data.catalog.get(gene_id)
        *_, card, message = client.predict(gene_id, api_name="/inspect")
        assert _unescaped(message).startswith(f"`{gene_id}` ({entry.gene.name} {entry.gene.version}): **Signature: verified.**")
        assert card.startswith(message)


def test_a_host_that_fits_no_gene_is_refused_without_a_server_path(live_space: tuple[SpaceCase, str]) -> None:
    case, url = live_space
    client = _client(url)
    for unfit in case.unfit:
        *_, message = client.predict(unfit, [case.routed], case.prompt, api_name="/try")
        assert message.startswith("**⚠️ IncompatibleError:**") and f"does not fit host {unfit}" in message
        assert not SERVER_PATH.search(message), message


def test_try_shows_the_router_in_numbers_the_expected_answer_and_why_the_first_run_is_slow(
        live_space: tuple[SpaceCase, str]) -> None:
    case, url = live_space
    client = _client(url)
    genes = _verified(case)  # the only test that composes every verified gene: its first run builds it
    runs = [client.predict(case.host, genes, case.prompt, api_name="/try") for _ in range(2)]
    for (router, base, composed, latency, message), first in zip(runs, (True, False)):
        assert message == "" and composed == case.answer and base != case.answer
        confidences = {c["label"]: c["confidence"] for c in router["confidences"]}
        assert set(confidences) == {*genes, "none"} and router["label"] == case.routed
        assert max(confidences, key=confidences.get) == case.routed
        assert sum(confidences.values()) == pytest.approx(1.0, abs=1e-3)
        assert f"**Expected:** `{case.answer}`: host alone ✗, host + genes ✓." in latency
        # the first run says why it took seconds; the next reuses it. (With one verified gene, as in the real
        # case, an earlier test may have built this composition already: only the reuse can be asserted.)
        if not first or len(genes) > 1:
            assert ("**Set up in" in latency) is first


def test_a_prompt_with_no_answer_says_so(live_space: tuple[SpaceCase, str]) -> None:
    case, url = live_space
    silent = case.extra.get("silent_prompt")
    if silent is None:
        pytest.skip(f"the {case.name} case names no prompt its host answers with nothing")
    host_alone = plain_answers(case.data.hosts[case.host], case.data.catalog.get(case.routed).path, [silent])[0][0]
    assert host_alone == ""  # the premise: the bare host ends its answer at once
    _, base, composed, _, message = _client(url).predict(case.host, [case.routed], silent, api_name="/try")
    assert message == "" and base == "(no output: the model ended its answer at once)"
    assert composed.strip()  # never a blank box


def test_the_gene_page_has_what_a_model_page_has(live_space: tuple[SpaceCase, str]) -> None:
    case, url = live_space
    entry = case.data.catalog.get(case.routed)
    header, pull, use, caption, gallery, _, _, versions, files, *_ = _client(url).predict(case.routed,
                                                                                            api_name="/inspect")
    # the top: a one-line summary, size, date, tags, downloads
    header = _unescaped(header)
    assert f"**{entry.gene.name} {entry.gene.version}**" in header and entry.gene.summary[:40] in header
    on_disk = sorted(p for p in entry.path.iterdir() if p.is_file())
    shown = facts(header)
    total = sum(p.stat().st_size for p in on_disk)
    assert re.fullmatch(rf"{total / 1000:.1f} kB in {len(on_disk)} files \(adapter weights [\d.]+ kB\)", shown["size"])
    assert shown["created"] == entry.card["lineage"]["created"][:10] and shown["signature"].startswith("✓ verified")
    assert shown["version"].startswith(entry.gene.version) and "downloads" in shown
    assert "`genehub`" in header and f"`skill-{entry.skill}`" in header
    # every file, with its size and sha256
    assert {r["file"]: (r["bytes"], r["sha256"]) for r in _table(files)} == {
        p.name: (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest()) for p in on_disk}
    # the version history marks the version on this page
    rows = _table(versions)
    assert [r["version"] for r in rows if r["on this page"] == "yes"] == [entry.gene.version]
    # the gallery: the gene's examples, with the host's and the gene's answers as plain PEFT gives them
    rows = _table(gallery)
    examples = _examples(case, case.routed)[:len(rows)]
    assert [(r["prompt"], r["expected"]) for r in rows] == [(_request(x), x["answer"]) for x in examples]
    plain = plain_answers(case.data.hosts[case.host], entry.path, [x["prompt"] for x in examples])
    assert [(r["host alone"], r["host + gene"]) for r in rows] == [
        (h or "(no output: the model ended its answer at once)", g or "(no output: the model ended its answer at once)")
        for h, g in plain]
    assert [r["gene right?"] for r in rows] == ["✓" if g.strip() == x["answer"] else "✗"
                                                for (_, g), x in zip(plain, examples)]
    right = sum(r["gene right?"] == "✓" for r in rows)
    assert f"the gene answers {right} of {len(rows)} exactly" in caption
    # how to install it (for the host it names) and use it without genehub
    assert pull.splitlines()[-1].startswith(f"genehub pull {case.routed}@{entry.revision}") and " --host " in pull
    host = entry.gene.host
    if case.zoo_preset:
        assert f"genehub zoo build --preset {case.zoo_preset} --out ./zoo" in pull + use
        assert 'AutoModelForCausalLM.from_pretrained("./zoo/host")' in use
    elif re.fullmatch(r"[0-9a-f]{40}", host.revision):  # a Hub repo at a commit
        assert f'from_pretrained("{host.repo_id}", revision="{host.revision}")' in use
    else:  # a host imported into a folder (the real preset's): the card pins it by content, not by a Hub commit
        assert host.revision.startswith("sha256:")
        assert f'from_pretrained("PATH/TO/{host.repo_id.split("/")[-1]}")  # {host.repo_id}' in use
