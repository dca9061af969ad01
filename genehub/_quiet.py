"""Quiet model loading: transformers' "Loading weights" bar and its deprecation warnings, for one block.

genehub loads models for the user (a host, a donor, a composition); the bar transformers draws for each
load and the ``FutureWarning`` its deprecated properties raise when peft wraps a model are about
transformers' and peft's internals, not about anything the user can change. :func:`quiet_loading`
turns both off with transformers' own switches for the duration of a block and restores them after, so
a program that imports genehub keeps its own settings; :func:`quiet_warnings` only filters the warnings
(it imports nothing, so a command that loads no model pays nothing for it). Warnings and errors that
transformers logs are kept.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_warnings() -> Iterator[None]:
    """Within the block: no ``FutureWarning`` raised from inside transformers (its deprecations, which peft trips)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\.")
        yield


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Within the block: no transformers progress bars, and :func:`quiet_warnings`.

    Example:
        >>> with quiet_loading():
        ...     model = AutoModelForCausalLM.from_pretrained(path)
    """
    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with quiet_warnings():
            yield
    finally:
        if bar:
            hf_logging.enable_progress_bar()
