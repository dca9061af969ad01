"""genehub's errors: one base class, and messages that end with what to do next.

Every error a user can cause derives from :class:`GenehubError`. Subclasses also inherit the built-in
they refine (``CardValidationError`` is a ``ValueError``), so callers that catch built-ins keep working.
The CLI prints ``str(error)`` as one line on stderr and exits with code 1 (``--debug`` shows the
traceback).
"""

from __future__ import annotations

from collections.abc import Sequence


class GenehubError(Exception):
    """Base of every genehub error. ``str(err)`` says what went wrong and what to do next."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} {hint}" if hint else message)


class UsageError(GenehubError, ValueError):
    """A command or function was called with arguments that cannot work."""


class NotFoundError(GenehubError, FileNotFoundError):
    """A file, directory, gene, repo or revision does not exist."""

    def __init__(self, message: str, *, hint: str | None = None, path: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


class ZooError(GenehubError, RuntimeError):
    """The model zoo could not be built or loaded."""


class CardValidationError(GenehubError, ValueError):
    """A gene card (or router config) does not match its JSON schema.

    Attributes:
        errors: ``(json_path, message)`` pairs, one per violation.
    """

    def __init__(self, message: str, *, errors: Sequence[tuple[str, str]] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.errors = list(errors)


class VerificationError(GenehubError, ValueError):
    """A gene's signature, digests or trust did not verify.

    Attributes:
        files: the files that differ (added, removed or changed), when that is the reason.
    """

    def __init__(self, message: str, *, files: Sequence[str] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.files = list(files)


class UntrustedSignerError(VerificationError):
    """The signature is valid, but its key is not in the trust store."""


class SigningKeyError(GenehubError, LookupError):
    """A signing key or trusted key is missing or unreadable."""


class IncompatibleError(GenehubError, ValueError):
    """A gene, router or parent does not fit the host (architecture, shapes, tokenizer, licence...).

    Attributes:
        reasons: every failed check, each with what would make it pass.
    """

    def __init__(self, message: str, *, reasons: Sequence[str] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reasons = list(reasons)


class UnsafeFileError(GenehubError, ValueError):
    """A download holds something genehub refuses to load: pickles, escaping paths, oversize files."""


class RegistryError(GenehubError, RuntimeError):
    """A registry (the Hub or a local one) refused or failed a request."""

    def __init__(self, message: str, *, hint: str | None = None, repo_id: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.repo_id = repo_id
        self.status = status


class AuthError(RegistryError, PermissionError):
    """The registry said 401/403: missing or insufficient token."""


class ExtractionError(GenehubError, RuntimeError):
    """LoRA-fication (circuit location, homology, distillation) could not produce a gene."""


class RouterError(GenehubError, RuntimeError):
    """A router could not be trained, loaded or applied."""


class BreedingError(GenehubError, RuntimeError):
    """A merge, evolutionary search or plan could not be carried out."""
