"""The data sources the Space tests run on: each a :class:`_space.SpaceCase` (genes, hosts, what to expect).

``space_case`` is parametrized over :data:`CASES`, so a test that takes it runs once per data source: the
tiny zoo's signed genes, and a real English gene on the real host (SmolLM2-135M-Instruct, with Gemma-3-270M
as the host it does not fit), made once per session by ``tests/_real.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from _real import real_gene
from _space import SpaceCase, gene_shelf, launch_space, real_case, tiny_case


def _tiny(request: pytest.FixtureRequest, root: Any) -> SpaceCase:
    factory = request.getfixturevalue("tmp_path_factory")
    return tiny_case(root, gene_shelf(factory, request.getfixturevalue("tiny_zoo")))


def _real(request: pytest.FixtureRequest, root: Any) -> SpaceCase:
    return real_case(root, real_gene(request.getfixturevalue("tmp_path_factory")))


#: data source name -> builder(request, root folder) -> SpaceCase
CASES: dict[str, Callable[[pytest.FixtureRequest, Any], SpaceCase]] = {"tiny": _tiny, "real": _real}


@pytest.fixture(scope="module", params=list(CASES))
def space_case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SpaceCase:
    return CASES[request.param](request, tmp_path_factory.mktemp(f"space-{request.param}"))


@pytest.fixture(scope="module")
def live_space(space_case: SpaceCase) -> Iterator[tuple[SpaceCase, str]]:
    """The Space running on ``space_case``'s data: ``(case, url)``; connect a fresh client per test."""
    demo, url = launch_space(space_case.data)
    try:
        yield space_case, url
    finally:
        demo.close()
