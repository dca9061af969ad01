"""A loopback Hugging Face Hub for tests (standard library + PyYAML): see :mod:`hubserver.server`."""

from .server import TOKEN, USER, HubServer, Lies, card_metadata

__all__ = ["TOKEN", "USER", "HubServer", "Lies", "card_metadata"]
