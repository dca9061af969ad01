"""Pytest fixtures that start the loopback Hub and point huggingface_hub at it.

``tests/conftest.py`` loads this module as a plugin (``pytest_plugins``), so tests just name them.
Each test gets its own server, blob store and ``HF_HOME``; the client reads ``HF_ENDPOINT`` and
``HF_TOKEN`` (set here) and its import-time constants are patched to match.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import HubServer


def point_client_at(monkeypatch: pytest.MonkeyPatch, hub: HubServer, tmp_path, *, disable_xet: bool) -> None:
    """Set the environment and huggingface_hub's constants so the real client talks to ``hub``."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_TOKEN", hub.token)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1" if disable_xet else "0")
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    # derived from ENDPOINT at import time; hf_hub_url only swaps in `endpoint=` when the two agree
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", disable_xet)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    monkeypatch.setattr(constants, "HUGGINGFACE_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))


@pytest.fixture(params=["lfs", "regular"])
def hub_mode(request: pytest.FixtureRequest) -> str:
    """Both upload modes of the loopback Hub: big files as LFS, or every file regular."""
    return request.param


@pytest.fixture
def hub_server(hub_mode: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """A running loopback Hub (files >= 1 KiB are LFS in "lfs" mode) with the client pointed at it."""
    with HubServer(tmp_path / "hub-data", mode=hub_mode, lfs_threshold=1024) as hub:
        point_client_at(monkeypatch, hub, tmp_path, disable_xet=hub_mode == "lfs")
        yield hub
