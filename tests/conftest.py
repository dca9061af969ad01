"""Shared fixtures: the tiny zoo (built once per machine, cached) and an isolated genehub home per test.

Fixtures that live beside their builders come in as plugins, so no test module imports a fixture:
``zoo_genes`` (``_genes.py``), the loopback Hub (``hubserver/fixtures.py``), signed registry genes
(``hubserver/genes.py``) and every registry backend (``hubserver/backends.py``).
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = ("_genes", "_byo", "hubserver.fixtures", "hubserver.genes", "hubserver.backends")

# Tests run on the CPU; keep torch from oversubscribing the 2 cores of the CI machine.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Each test gets its own gene store, registry and trust store (the zoo cache stays shared)."""
    monkeypatch.setenv("GENEHUB_HOME", str(tmp_path / "genehub-home"))
    monkeypatch.setenv("GENEHUB_CONFIG", str(tmp_path / "genehub-config"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def tiny_zoo():
    """The zoo's tiny preset: a host, donors for sort and upper, and a heterologous host."""
    from genehub import zoo

    return zoo.build("tiny", progress=False)
