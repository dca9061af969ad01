"""Hub-only behaviour: retries of transient failures, one-line errors for refusals, pagination, 409 replies."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from genehub.errors import AuthError, RegistryError
from genehub.registry import HubRegistry, pull, push, search

REPO = "alice/sort-gene"


@pytest.fixture
def hub(hub_server) -> HubRegistry:
    return HubRegistry(hub_server.url, backoff=0.01)


@pytest.mark.parametrize("hub_mode", ["lfs"], indirect=True)
@pytest.mark.parametrize("route", ["/api/models/alice/sort-gene", "/resolve/"])
def test_transient_5xx_is_retried(hub_server, hub, registry_genes, trust_alice, route):
    push(registry_genes.v1, REPO, registry=hub)
    hub_server.fail_next(route, 503, times=2)
    gene = pull(REPO, registry=hub)
    assert gene.signer == "alice"
    assert sum(1 for r in hub_server.requests if route in r) >= 3  # two failures, then the real answers


@pytest.mark.parametrize("hub_mode", ["lfs"], indirect=True)
def test_persistent_5xx_becomes_one_line_error(hub_server, registry_genes, trust_alice):
    hub = HubRegistry(hub_server.url, retries=1, backoff=0.01)
    push(registry_genes.v1, REPO, registry=hub)
    hub_server.fail_next("/api/models/alice/sort-gene", 500, times=10)
    with pytest.raises(RegistryError, match="500") as err:
        pull(REPO, registry=hub)
    assert "\n" not in str(err.value) and err.value.status == 500


REFUSALS = [
    # (what, action, error, status, match)
    ("bad token", lambda g, url: push(g.signed_for("alice/new-gene"), "alice/new-gene",
                                      registry=HubRegistry(url, token="hf_wrong")), AuthError, 401, "HF_TOKEN"),
    ("missing repo", lambda g, url: pull("alice/no-such-gene", registry=HubRegistry(url)), RegistryError, 404, "genehub search"),
    ("missing tag", lambda g, url: pull(f"{REPO}@v9.9.9", registry=HubRegistry(url)), RegistryError, 404, "revision"),
]


@pytest.mark.parametrize("hub_mode", ["lfs"], indirect=True)
@pytest.mark.parametrize(("what", "action", "error", "status", "match"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_become_one_line_errors(hub_server, hub, registry_genes, trust_alice, what, action, error, status, match):
    push(registry_genes.v1, REPO, registry=hub)
    with pytest.raises(error, match=match) as err:
        action(registry_genes, hub_server.url)
    assert err.value.status == status and "\n" not in str(err.value)


@pytest.mark.parametrize("hub_mode", ["regular"], indirect=True)
def test_search_follows_pagination_and_filters(hub_server, hub, registry_genes, trust_alice):
    hub_server.page_size = 1
    for name in ("sort-a", "sort-b", "sort-c"):
        push(registry_genes.signed_for(f"alice/{name}"), f"alice/{name}", registry=hub)
    listed = len(hub_server.requests)
    assert [h.repo_id for h in search(registry=hub)] == ["alice/sort-a", "alice/sort-b", "alice/sort-c"]
    assert hub_server.requests[listed:].count("GET /api/models") == 3  # one page each, via the Link header
    assert [h.repo_id for h in search("sort-b", registry=hub)] == ["alice/sort-b"]
    assert search(skill="sort", license="apache-2.0", host="local/tiny-host", registry=hub)[0].repo_id == "alice/sort-a"
    assert search(host="someone/else", registry=hub) == []


@pytest.mark.parametrize("hub_mode", ["lfs"], indirect=True)
def test_create_existing_repo_answers_409_with_url(hub_server, hub):
    hub.ensure_repo(REPO)
    hub.ensure_repo(REPO)  # exist_ok: the client reads the url from the 409 body
    request = urllib.request.Request(f"{hub_server.url}/api/repos/create", method="POST",
                                     data=json.dumps({"name": "sort-gene", "organization": "alice"}).encode(),
                                     headers={"Authorization": f"Bearer {hub_server.token}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request)
    assert err.value.code == 409 and json.loads(err.value.read())["url"].endswith("/alice/sort-gene")
