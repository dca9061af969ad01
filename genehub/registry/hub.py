"""The Hugging Face Hub registry: the real ``huggingface_hub`` client, at ``HF_ENDPOINT`` or any endpoint.

Every call goes through :func:`_call`, which retries transient failures (timeouts, connection errors,
429 and 5xx) with exponential backoff and turns HTTP refusals into one-line genehub errors:
401/403 -> :class:`AuthError`, 404/409/412 -> :class:`RegistryError` with what to do next.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import AuthError, RegistryError
from .base import Registry, RemoteFile, RepoHit, Snapshot, check_repo_id

T = TypeVar("T")


def default_endpoint() -> str:
    """``HF_ENDPOINT`` if set (read now, not at import), else the client's endpoint (the real Hub)."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _status(err: BaseException) -> int | None:
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None)


def _transient(err: BaseException) -> bool:
    import httpx2

    status = _status(err)
    if status is not None:
        return status == 429 or status >= 500
    return isinstance(err, (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError, TimeoutError))


def _translate(err: BaseException, *, what: str, repo_id: str | None, endpoint: str) -> RegistryError:
    status = _status(err)
    detail = str(err).splitlines()[0] if str(err) else type(err).__name__
    where = f"{repo_id} at {endpoint}" if repo_id else endpoint
    if status in (401, 403):
        return AuthError(
            f"The registry refused to {what} {where} ({status}: not authorised).",
            hint="Set HF_TOKEN to a token with write access to that namespace (or run `hf auth login`).",
            repo_id=repo_id, status=status,
        )
    hints = {
        404: "Check the repo id and revision (`genehub search`, `genehub info REPO_ID`); private repos need HF_TOKEN.",
        409: "It already exists: bump the gene's version in gene.json, re-sign and push again.",
        412: "The repo changed while pushing: run the push again.",
    }
    hint = hints.get(status or 0, "Check HF_ENDPOINT and your network, then try again.")
    return RegistryError(f"Could not {what} {where} ({status or type(err).__name__}: {detail}).",
                         hint=hint, repo_id=repo_id, status=status)


def _call(fn: Callable[[], T], *, what: str, repo_id: str | None, endpoint: str, retries: int,
          backoff: float) -> T:
    from huggingface_hub.errors import OfflineModeIsEnabled

    for attempt in range(retries + 1):
        try:
            return fn()
        except OfflineModeIsEnabled:
            raise RegistryError(f"Cannot {what} {repo_id or endpoint}: HF_HUB_OFFLINE is set.",
                                hint="Unset HF_HUB_OFFLINE to reach the registry.", repo_id=repo_id) from None
        except Exception as err:  # the client raises HfHubHTTPError, httpx2 errors, OSError...
            if _transient(err) and attempt < retries:
                time.sleep(backoff * 2**attempt)
                continue
            if _status(err) is None and not _transient(err) and not isinstance(err, OSError):
                raise
            raise _translate(err, what=what, repo_id=repo_id, endpoint=endpoint) from None
    raise AssertionError("unreachable")


class HubRegistry(Registry):
    """The Hugging Face Hub (or a Hub-compatible endpoint).

    Args:
        endpoint: the Hub URL (default ``HF_ENDPOINT``, else https://huggingface.co).
        token: an access token (default: ``HF_TOKEN`` / the token saved by ``hf auth login``).
        private: create new repos private.
        retries: how many times a transient failure is retried.
        backoff: seconds before the first retry (doubling each time).
    """

    def __init__(self, endpoint: str | None = None, *, token: str | None = None, private: bool = False,
                 retries: int = 3, backoff: float = 0.5) -> None:
        from huggingface_hub import HfApi

        self.endpoint = (endpoint or default_endpoint()).rstrip("/")
        self.location = self.endpoint
        self.token = token
        self.private = private
        self.retries = retries
        self.backoff = backoff
        self.api = HfApi(endpoint=self.endpoint, token=token)

    def __repr__(self) -> str:
        return f"HubRegistry({self.endpoint!r})"

    def _call(self, fn: Callable[[], T], what: str, repo_id: str | None = None) -> T:
        return _call(fn, what=what, repo_id=repo_id, endpoint=self.endpoint, retries=self.retries, backoff=self.backoff)

    def ensure_repo(self, repo_id: str) -> None:
        check_repo_id(repo_id)
        self._call(lambda: self.api.create_repo(repo_id, private=self.private, exist_ok=True), "create", repo_id)

    def snapshot(self, repo_id: str, revision: str | None = None) -> Snapshot | None:
        check_repo_id(repo_id)
        info = self._call(lambda: self.api.model_info(repo_id, revision=revision, files_metadata=True),
                          f"read revision {revision or 'main'} of", repo_id)
        files = tuple(
            RemoteFile(s.rfilename, int(s.lfs.size if s.lfs else (s.size or 0)),
                       sha256=s.lfs.sha256 if s.lfs else None, git_oid=None if s.lfs else s.blob_id)
            for s in info.siblings or []
        )
        return Snapshot(repo_id, str(info.sha), files)

    def commit(self, repo_id: str, *, files: dict[str, Path], deleted: list[str], message: str,
               parent: str | None) -> str:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        def run() -> str:
            ops: list[Any] = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(f)) for p, f in sorted(files.items())]
            ops += [CommitOperationDelete(path_in_repo=p) for p in sorted(deleted)]
            return str(self.api.create_commit(repo_id, operations=ops, commit_message=message,
                                              parent_commit=parent).oid)

        return self._call(run, "commit to", repo_id)

    def tags(self, repo_id: str) -> dict[str, str]:
        refs = self._call(lambda: self.api.list_repo_refs(repo_id), "list the tags of", repo_id)
        return {t.name: t.target_commit for t in refs.tags}

    def create_tag(self, repo_id: str, tag: str, commit: str) -> None:
        self._call(lambda: self.api.create_tag(repo_id, tag=tag, revision=commit), f"create tag {tag} on", repo_id)

    def _fetch(self, repo_id: str, commit: str, name: str) -> str:
        from huggingface_hub import hf_hub_download

        return self._call(lambda: hf_hub_download(repo_id, name, revision=commit, endpoint=self.endpoint,
                                                  token=self.token), f"download {name} from", repo_id)

    def download(self, snapshot: Snapshot, names: list[str], dest: Path) -> None:
        for name in names:
            cached = self._fetch(snapshot.repo_id, snapshot.commit, name)
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cached, target)  # a real copy: the gene store must not depend on the HF cache

    def read(self, repo_id: str, commit: str, name: str) -> bytes:
        return Path(self._fetch(repo_id, commit, name)).read_bytes()

    def search(self, *, query: str | None, tags: list[str]) -> list[RepoHit]:
        def run() -> list[Any]:
            return list(self.api.list_models(filter=tags or None, search=query or None, cardData=True))

        hits = []
        for model in self._call(run, "search"):
            card = model.card_data.to_dict() if model.card_data is not None else {}
            hits.append(RepoHit(model.id, model.sha, card, tuple(model.tags or ())))
        return hits
