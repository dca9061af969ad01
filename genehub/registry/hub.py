"""The Hugging Face Hub registry: the real ``huggingface_hub`` client, at ``HF_ENDPOINT`` or any endpoint.

Reads (a revision's listing, tags, search, one small file) go through the client's ``http_backoff``,
which retries 429, 5xx and dropped or timed-out reads with exponential backoff; a refused or failed
connection is not retried, so an unreachable endpoint or ``HF_HUB_OFFLINE`` fails at once with one
line. Downloads use ``snapshot_download(allow_patterns=..., local_dir=...)`` into staging (the client's
own retries) with a private, empty cache, never the shared HF cache, so a poisoned cache entry cannot
reach a pull. Writes use
``HfApi``. Every answer is checked before it is used: a commit id is 40 hex characters (and the one
asked for, when a commit was asked for), repo ids match the Hub's grammar, sizes are whole numbers,
digests are hex. Refusals become one-line errors: 401/403 -> :class:`AuthError`, others ->
:class:`RegistryError` with what to do next.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from .._ids import check_commit, is_commit, is_repo_id, is_sha256
from .._staging import inside
from ..errors import AuthError, GenehubError, RegistryError
from .base import Registry, RemoteFile, RepoHit, Snapshot, check_repo_id, git_blob_oid

T = TypeVar("T")
log = logging.getLogger(__name__)

#: the most bytes :meth:`HubRegistry.read` accepts for one (small) file
MAX_READ_BYTES = 16 << 20


def default_endpoint() -> str:
    """``HF_ENDPOINT`` if set (read now, not at import), else the client's endpoint (the real Hub)."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _retry_on() -> tuple[type[Exception], ...]:
    """Failures worth another try: a read that dropped or timed out. A refused connection is not one."""
    import httpx2

    return (httpx2.ReadTimeout, httpx2.WriteTimeout, httpx2.PoolTimeout, httpx2.ReadError, httpx2.WriteError,
            httpx2.RemoteProtocolError)


def _causes(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__  # type: ignore[assignment]


def _status(err: BaseException) -> int | None:
    for cause in _causes(err):
        status = getattr(getattr(cause, "response", None), "status_code", None)
        if isinstance(status, int):
            return status
    return None


def _translate(err: BaseException, *, what: str, repo_id: str | None, endpoint: str) -> RegistryError:
    from huggingface_hub.errors import OfflineModeIsEnabled

    where = f"{repo_id} at {endpoint}" if repo_id else endpoint
    if any(isinstance(c, OfflineModeIsEnabled) for c in _causes(err)):
        return RegistryError(f"Cannot {what} {where}: HF_HUB_OFFLINE is set.",
                             hint="Unset HF_HUB_OFFLINE to reach the Hub (local registries work offline).",
                             repo_id=repo_id)
    status = _status(err)
    detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
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
    return RegistryError(f"Could not {what} {where} ({status or type(err).__name__}: {detail[:300]}).",
                         hint=hint, repo_id=repo_id, status=status)


def _lying(endpoint: str, repo_id: str, what: str) -> RegistryError:
    return RegistryError(f"{endpoint} sent an invalid answer for {repo_id}: {what}. Nothing was written.",
                         hint="Do not use this registry; report it to its operator.", repo_id=repo_id)


def parse_snapshot(data: Any, *, repo_id: str, revision: str | None, endpoint: str) -> Snapshot:
    """A :class:`Snapshot` from the Hub's ``/api/models/REPO[/revision/REV]?blobs=true`` answer, checked field by field.

    Raises:
        RegistryError: a commit id that is not 40 hex (or not the commit asked for), another repo, or a
            malformed file list. Names are checked later by :func:`~genehub.registry.safety.check_files`.
    """
    if not isinstance(data, dict):
        raise _lying(endpoint, repo_id, "not a JSON object")
    commit = check_commit(data.get("sha"), source=f"{endpoint} (repo {repo_id})")
    if is_commit(revision) and commit != revision:
        raise _lying(endpoint, repo_id, f"asked for commit {revision}, got {commit}")
    if str(data.get("id", repo_id)).lower() != repo_id.lower():
        raise _lying(endpoint, repo_id, f"it describes repo {str(data.get('id'))[:80]!r}")
    siblings = data.get("siblings") or []
    if not isinstance(siblings, list):
        raise _lying(endpoint, repo_id, "the file list is not a list")
    files = []
    for item in siblings:
        lfs = item.get("lfs") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(item.get("rfilename"), str) or not isinstance(lfs, dict | None):
            raise _lying(endpoint, repo_id, f"malformed file entry {str(item)[:80]}")
        size = (lfs or item).get("size", 0)
        sha256, oid = (lfs.get("sha256"), None) if lfs else (None, item.get("blobId"))
        if not isinstance(size, int) or isinstance(size, bool) or (lfs and not is_sha256(sha256)) \
                or (oid is not None and not is_commit(oid)):
            raise _lying(endpoint, repo_id, f"bad size or digest for {item['rfilename'][:80]!r}")
        files.append(RemoteFile(item["rfilename"], size, sha256=sha256, git_oid=oid))
    return Snapshot(repo_id, commit, tuple(files))


def _literal(name: str) -> str:
    """An fnmatch pattern that matches exactly ``name`` (``allow_patterns`` are patterns)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


class HubRegistry(Registry):
    """The Hugging Face Hub (or a Hub-compatible endpoint).

    Args:
        endpoint: the Hub URL (default ``HF_ENDPOINT``, else https://huggingface.co).
        token: an access token (default: ``HF_TOKEN`` / the token saved by ``hf auth login``).
        private: create new repos private.
        retries: how many times a read that failed transiently (429, 5xx, dropped) is retried.
        backoff: seconds before the first retry (doubling each time, at most 8).
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

    @property
    def offline(self) -> bool:
        from huggingface_hub import constants

        return constants.is_offline_mode()

    def _call(self, fn: Callable[[], T], what: str, repo_id: str | None = None) -> T:
        try:
            return fn()
        except GenehubError:
            raise
        except Exception as err:  # the client raises HfHubHTTPError, httpx2 errors, OSError, ValueError...
            raise _translate(err, what=what, repo_id=repo_id, endpoint=self.endpoint) from err

    def _get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        from huggingface_hub.utils import build_hf_headers, hf_raise_for_status, http_backoff

        response = http_backoff("GET", url, params=params, headers=build_hf_headers(token=self.token),
                                max_retries=self.retries, base_wait_time=self.backoff, retry_on_exceptions=_retry_on())
        hf_raise_for_status(response)
        return response

    def _json(self, url: str, params: dict[str, Any] | None, what: str, repo_id: str | None = None) -> tuple[Any, Any]:
        def run() -> tuple[Any, Any]:
            response = self._get(url, params)
            return response.json(), response

        try:
            return self._call(run, what, repo_id)
        except RegistryError as err:
            if isinstance(err.__cause__, ValueError) and err.status is None:  # the body was not JSON
                raise _lying(self.endpoint, repo_id or "a search", "the answer is not JSON") from None
            raise

    def ensure_repo(self, repo_id: str) -> None:
        check_repo_id(repo_id)
        self._call(lambda: self.api.create_repo(repo_id, private=self.private, exist_ok=True), "create", repo_id)

    def snapshot(self, repo_id: str, revision: str | None = None) -> Snapshot | None:
        check_repo_id(repo_id)
        url = f"{self.endpoint}/api/models/{repo_id}"
        if revision is not None:
            url += f"/revision/{quote(revision, safe='')}"
        data, _ = self._json(url, {"blobs": True}, f"read revision {revision or 'main'} of", repo_id)
        return parse_snapshot(data, repo_id=repo_id, revision=revision, endpoint=self.endpoint)

    def downloads(self, repo_id: str) -> int | None:
        """The Hub's download count of ``repo_id`` (over the last 30 days), None when the answer has none."""
        check_repo_id(repo_id)
        data, _ = self._json(f"{self.endpoint}/api/models/{repo_id}", None, "read the download count of", repo_id)
        count = data.get("downloads") if isinstance(data, dict) else None
        return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None

    def commit(self, repo_id: str, *, files: dict[str, Path], deleted: list[str], message: str,
               parent: str | None) -> str:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        def run() -> str:
            ops: list[Any] = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(f)) for p, f in sorted(files.items())]
            ops += [CommitOperationDelete(path_in_repo=p) for p in sorted(deleted)]
            return str(self.api.create_commit(repo_id, operations=ops, commit_message=message,
                                              parent_commit=parent).oid)

        return check_commit(self._call(run, "commit to", repo_id), source=f"{self.endpoint} (repo {repo_id})")

    def tags(self, repo_id: str) -> dict[str, str]:
        check_repo_id(repo_id)
        data, _ = self._json(f"{self.endpoint}/api/models/{repo_id}/refs", None, "list the tags of", repo_id)
        tags = data.get("tags") if isinstance(data, dict) else None
        if not isinstance(tags, list) or not all(isinstance(t, dict) for t in tags):
            raise _lying(self.endpoint, repo_id, "malformed refs")
        return {t["name"]: t["targetCommit"] for t in tags
                if isinstance(t.get("name"), str) and is_commit(t.get("targetCommit"))}

    def create_tag(self, repo_id: str, tag: str, commit: str) -> None:
        self._call(lambda: self.api.create_tag(repo_id, tag=tag, revision=commit), f"create tag {tag} on", repo_id)

    def download(self, snapshot: Snapshot, names: list[str], dest: Path) -> None:
        """Download ``names`` with ``snapshot_download`` into a scratch folder beside ``dest``, then move exactly
        those files into ``dest`` (the client's ``.cache/`` metadata and anything unlisted stay behind)."""
        from huggingface_hub import snapshot_download

        check_commit(snapshot.commit, source=self.endpoint)
        scratch = Path(tempfile.mkdtemp(prefix=".download-", dir=dest.parent))
        try:
            # a private, empty cache_dir: the shared HF cache is neither read nor written
            self._call(lambda: snapshot_download(
                snapshot.repo_id, revision=snapshot.commit, local_dir=scratch / "files", endpoint=self.endpoint,
                token=self.token, allow_patterns=[_literal(n) for n in names], cache_dir=scratch / "cache"),
                f"download {snapshot.commit[:12]} of", snapshot.repo_id)
            for name in names:
                source = inside(scratch / "files", name)
                if source.is_symlink() or not source.is_file():
                    raise _lying(self.endpoint, snapshot.repo_id, f"{name[:80]!r} was listed but not served")
                target = inside(dest, name)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def read(self, repo_id: str, commit: str, name: str) -> bytes:
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import build_hf_headers, hf_raise_for_status, http_stream_backoff

        check_repo_id(repo_id)
        check_commit(commit, source=self.endpoint)
        url = hf_hub_url(repo_id, name, revision=commit, endpoint=self.endpoint)

        def run() -> bytes:
            with http_stream_backoff("GET", url, headers=build_hf_headers(token=self.token), follow_redirects=True,
                                     max_retries=self.retries, base_wait_time=self.backoff,
                                     retry_on_exceptions=_retry_on()) as response:
                if response.status_code >= 400:
                    response.read()
                hf_raise_for_status(response)
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > MAX_READ_BYTES:
                        raise _lying(self.endpoint, repo_id, f"{name} is over {MAX_READ_BYTES} bytes")
                return bytes(data)

        return self._call(run, f"download {name} from", repo_id)

    def search(self, *, query: str | None, tags: list[str]) -> list[RepoHit]:
        params: dict[str, Any] | None = {"filter": tags or None, "search": query or None, "cardData": True}
        params = {k: v for k, v in params.items() if v is not None}
        url: str | None = f"{self.endpoint}/api/models"
        hits = []
        pages = 0
        while url and pages < 1000:
            items, response = self._json(url, params, "search")
            if not isinstance(items, list):
                raise _lying(self.endpoint, "a search", "not a list of models")
            for item in items:
                hit = self._hit(item)
                if hit is not None:
                    hits.append(hit)
            url, params, pages = response.links.get("next", {}).get("url"), None, pages + 1
        return hits

    def _hit(self, item: Any) -> RepoHit | None:
        """A search row, or None (logged) when its id or commit is not one genehub could ever pull."""
        if not isinstance(item, dict) or not is_repo_id(item.get("id")) or not is_commit(item.get("sha")):
            log.warning("skipping a malformed search result from %s: %.80s", self.endpoint, item)
            return None
        card = item.get("cardData") if isinstance(item.get("cardData"), dict) else {}
        tags = tuple(str(t) for t in item.get("tags") or () if isinstance(t, str))
        return RepoHit(item["id"], item["sha"], card, tags)

    def purge_cache(self, repo_id: str) -> list[str]:
        """Delete the revisions of ``repo_id`` in the shared HF cache whose blobs no longer match their names.

        genehub never reads that cache, but other tools (``from_pretrained(repo_id)``) do: a ``pull --repair``
        clears what would poison them. Returns ``repo@commit`` for each revision removed.
        """
        from huggingface_hub import constants, scan_cache_dir
        from huggingface_hub.errors import CacheNotFound

        try:
            scan = scan_cache_dir(constants.HF_HUB_CACHE)
        except CacheNotFound:
            return []
        poisoned = sorted({rev.commit_hash for repo in scan.repos if repo.repo_type == "model"
                           and repo.repo_id.lower() == repo_id.lower() for rev in repo.revisions
                           for f in rev.files if not _blob_matches(f.blob_path)})
        if poisoned:
            scan.delete_revisions(*poisoned).execute()
        return [f"{repo_id}@{commit}" for commit in poisoned]


def _blob_matches(blob: Path) -> bool:
    """Whether a cached blob's bytes match its name (sha256 for LFS files, git blob id for the rest)."""
    data = blob.read_bytes()
    if len(blob.name) == 64:
        return hashlib.sha256(data).hexdigest() == blob.name
    if len(blob.name) == 40:
        return git_blob_oid(data) == blob.name
    return True
