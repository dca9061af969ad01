"""A Hub-protocol HTTP server on 127.0.0.1 for tests: the part of the Hub API huggingface_hub 2.4 calls.

Start it with :class:`HubServer` (``with HubServer(tmp) as hub: hub.url``). Two upload modes:
``"lfs"`` marks files of at least ``lfs_threshold`` bytes as LFS in preupload (they then go through the
LFS batch API: basic PUT + verify), ``"regular"`` marks every file regular (bytes inline, base64, in the
ndjson commit). ``hub.uploads`` logs every file body the client sent (path or oid, byte count), so a
test can assert a re-push sent nothing. Test controls, none of which alter stored content:
``fail_next(substring, status, times)`` answers matching requests with an error first (retry tests),
``throttle(bytes_per_s)`` slows file downloads (interrupt tests), ``requests`` logs every request line.

A misbehaving mode for supply-chain tests: ``hub.lie(Lies(...))`` makes the server answer as a
compromised Hub or proxy would (rewrite the commit id it reports, serve traversal names, serve another
repo's gene under this name, point a revision at another commit, mutate listings, headers and bodies),
while the stored content stays honest; ``hub.lie(None)`` makes it honest again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

import yaml

from .lies import Lies
from .store import Conflict, HubStore, Repo, now

TOKEN = "hf_loopback_test_token"
USER = "tester"
_REPO_API = re.compile(r"^/api/models/([^/]+)/([^/]+)(/.*)?$")


def card_metadata(readme: bytes | None) -> dict[str, Any]:
    """The YAML front matter of a README (what the Hub shows as ``cardData``)."""
    if not readme:
        return {}
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", readme.decode("utf-8", "replace"), re.S)
    if not match:
        return {}
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


class HubServer:
    """A loopback Hub. ``url`` is its endpoint; ``token`` the one token it accepts for writes."""

    def __init__(self, root: str | Path, *, mode: Literal["lfs", "regular"] = "lfs", lfs_threshold: int = 1024,
                 page_size: int = 50) -> None:
        self.store = HubStore(Path(root))
        self.mode = mode
        self.lfs_threshold = lfs_threshold
        self.page_size = page_size
        self.token = TOKEN
        self.uploads: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self._failures: list[list[Any]] = []
        self._bytes_per_s: float | None = None
        self.lies: Lies | None = None
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"hub": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> HubServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="hubserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # test controls
    def fail_next(self, substring: str, status: int = 503, times: int = 1) -> None:
        """Answer the next ``times`` requests whose path contains ``substring`` with ``status``."""
        with self._lock:
            self._failures.append([substring, status, times])

    def throttle(self, bytes_per_s: float | None) -> None:
        """Serve file bodies at this rate (None: full speed)."""
        self._bytes_per_s = bytes_per_s

    def lie(self, lies: Lies | None) -> None:
        """Answer as a compromised Hub would from now on (None: honest again)."""
        self.lies = lies

    def uploaded_bytes(self, since: int = 0) -> int:
        """File-content bytes the client sent in uploads logged from index ``since`` on."""
        return sum(u["bytes"] for u in self.uploads[since:])

    def _injected_failure(self, path: str) -> int | None:
        with self._lock:
            for failure in self._failures:
                if failure[0] in path and failure[2] > 0:
                    failure[2] -= 1
                    return failure[1]
        return None


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # plumbing
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/json", head: bool = False, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers)

    def _error(self, status: int, message: str, code: str | None = None, head: bool = False) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, json.dumps({"error": message}).encode(), headers, head=head)

    def _authed(self) -> bool:
        return self.headers.get("Authorization", "") == f"Bearer {self.hub.token}"

    def _repo(self, owner: str, name: str, head: bool = False) -> Repo | None:
        lies = self.hub.lies
        repo_id = f"{owner}/{name}"
        repo = self.hub.store.repos.get(lies.serve_as.get(repo_id, repo_id) if lies else repo_id)
        if repo is None or (repo.private and not self._authed()):
            self._error(404, f"Repository {owner}/{name} not found", "RepoNotFound", head=head)
            return None
        return repo

    def _dispatch(self, method: str) -> None:
        body = self._body() if method in ("POST", "PUT", "DELETE") else b""
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query)
        self.hub.requests.append(f"{method} {path}")
        injected = self.hub._injected_failure(path)
        if injected:
            return self._error(injected, f"injected failure {injected}", head=method == "HEAD")
        if method in ("POST", "PUT", "DELETE") and self.headers.get("Authorization") and not self._authed():
            return self._error(401, "Invalid credentials in Authorization header")
        try:
            self._route(method, path, query, body)
        except Conflict as err:
            self._error(err.status, str(err))
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = lambda self: self._dispatch("GET")  # noqa: E731
    do_HEAD = lambda self: self._dispatch("HEAD")  # noqa: E731
    do_POST = lambda self: self._dispatch("POST")  # noqa: E731
    do_PUT = lambda self: self._dispatch("PUT")  # noqa: E731
    do_DELETE = lambda self: self._dispatch("DELETE")  # noqa: E731

    # routes
    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> None:
        store, hub = self.hub.store, self.hub
        if method == "GET" and path == "/api/whoami-v2":
            if not self._authed():
                return self._error(401, "Invalid credentials in Authorization header")
            return self._json(200, {"type": "user", "name": USER, "orgs": [], "auth": {"type": "access_token"}})
        if method == "POST" and path == "/api/validate-yaml":
            return self._json(200, {"errors": [], "warnings": []})
        if path in ("/api/repos/create", "/api/repos/delete"):
            if not self._authed():
                return self._error(401, "You must be authenticated to do this")
            data = json.loads(body or b"{}")
            repo_id = f"{data.get('organization') or USER}/{data['name']}"
            if path.endswith("create"):
                url = f"{hub.url}/{repo_id}"
                try:
                    store.create_repo(repo_id, private=data.get("visibility") == "private" or bool(data.get("private")))
                except Conflict as err:
                    return self._json(409, {"error": str(err), "url": url})
                return self._json(200, {"url": url, "name": repo_id})
            if store.repos.pop(repo_id, None) is None:
                return self._error(404, f"Repository {repo_id} not found", "RepoNotFound")
            return self._json(200, {})
        if method == "GET" and path == "/api/models":
            return self._list_models(query)
        match = re.match(r"^/([^/]+)/([^/]+)\.git/info/lfs/objects/batch$", path)
        if match and method == "POST":
            return self._lfs_batch(match.group(1), match.group(2), json.loads(body))
        match = re.match(r"^/lfs/(upload|verify)/([0-9a-f]{64})$", path)
        if match:
            return self._lfs_object(match.group(1), match.group(2), body)
        match = _REPO_API.match(path)
        if match:
            return self._repo_api(method, match.group(1), match.group(2), match.group(3) or "", query, body)
        match = re.match(r"^/([^/]+)/([^/]+)/resolve/([^/]+)/(.+)$", path)
        if match and method in ("GET", "HEAD"):
            return self._resolve(method, *match.groups())
        self._error(404, f"No route for {method} {path}")

    def _repo_api(self, method: str, owner: str, name: str, rest: str, query: dict[str, list[str]], body: bytes) -> None:
        store = self.hub.store
        repo = self._repo(owner, name)
        if repo is None:
            return
        writes = method in ("POST", "DELETE")
        if writes and not self._authed():
            return self._error(401, "You must be authenticated to write to this repo")
        if rest == "" or rest.startswith("/revision/"):
            rev = unquote(rest[len("/revision/"):]) if rest else "main"
            commit = repo.resolve(self._lied_rev(rev))
            if commit is None:
                return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            data = self._model_json(repo, commit, full=True)
            lies = self.hub.lies
            if lies is not None:
                requested = f"{owner}/{name}"
                data.update({"id": requested, "modelId": requested, "_id": requested})
                data = lies.info(requested, data) if lies.info else data
                if isinstance(data, bytes):
                    return self._send(200, data)
            return self._json(200, data)
        if rest == "/refs":
            def ref(kind: str, name: str, oid: str) -> dict[str, str]:
                return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": oid}
            return self._json(200, {"branches": [ref("heads", b, o) for b, o in repo.branches.items()],
                                    "tags": [ref("tags", t, o) for t, o in repo.tags.items()], "converts": []})
        match = re.match(r"^/tree/([^/]+)(?:/(.*))?$", rest)
        if match and method == "GET":
            return self._tree(repo, self._lied_rev(unquote(match.group(1))), unquote(match.group(2) or ""), query,
                              requested=f"{owner}/{name}")
        match = re.match(r"^/preupload/([^/]+)$", rest)
        if match and method == "POST":
            commit = repo.resolve(unquote(match.group(1)))
            files = []
            for item in json.loads(body)["files"]:
                lfs = self.hub.mode == "lfs" and item["size"] >= self.hub.lfs_threshold
                entry = commit.files.get(item["path"]) if commit else None
                oid = (entry.sha256 if lfs else entry.git_oid) if entry and entry.lfs == lfs else None
                files.append({"path": item["path"], "uploadMode": "lfs" if lfs else "regular",
                              "shouldIgnore": False, "oid": oid})
            return self._json(200, {"files": files, "commitOid": commit.oid if commit else None})
        match = re.match(r"^/commit/([^/]+)$", rest)
        if match and method == "POST":
            return self._commit(repo, unquote(match.group(1)), body)
        match = re.match(r"^/tag/([^/]+)$", rest)
        if match and method == "POST":
            commit = repo.resolve(unquote(match.group(1)))
            if commit is None:
                return self._error(404, f"Invalid rev id: {unquote(match.group(1))}", "RevisionNotFound")
            tag = json.loads(body)["tag"]
            with store.lock:
                if tag in repo.tags:
                    raise Conflict(f"Tag {tag} already exists")
                repo.tags[tag] = commit.oid
            return self._json(200, {})
        if match and method == "DELETE":
            tag = unquote(match.group(1))
            if repo.tags.pop(tag, None) is None:
                return self._error(404, f"Tag {tag} not found", "RevisionNotFound")
            return self._json(200, {})
        self._error(404, f"No route for {method} {rest}")

    def _lied_rev(self, rev: str) -> str:
        lies = self.hub.lies
        return lies.revisions.get(rev, rev) if lies else rev

    def _model_json(self, repo: Repo, commit: Any, *, full: bool) -> dict[str, Any]:
        readme = commit.files.get("README.md")
        meta = card_metadata(self.hub.store.blob_path(readme.sha256).read_bytes() if readme else None)
        tags = [str(t) for t in meta.get("tags") or []]
        if meta.get("license"):
            tags.append(f"license:{meta['license']}")
        if meta.get("base_model"):
            base = meta["base_model"]
            relation = meta.get("base_model_relation")
            tags += [f"base_model:{base}"] + ([f"base_model:{relation}:{base}"] if relation else [])
        data: dict[str, Any] = {
            "_id": repo.repo_id, "id": repo.repo_id, "modelId": repo.repo_id, "author": repo.repo_id.split("/")[0],
            "sha": commit.oid, "lastModified": commit.date, "createdAt": repo.created, "private": repo.private,
            "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": tags,
            "library_name": meta.get("library_name"), "pipeline_tag": meta.get("pipeline_tag"),
        }
        if full:
            data["cardData"] = meta
            data["siblings"] = [
                {"rfilename": p, "size": e.size, "blobId": e.tree_json(p)["oid"],
                 **({"lfs": {"sha256": e.sha256, "size": e.size, "pointerSize": e.tree_json(p)["lfs"]["pointerSize"]}}
                    if e.lfs else {})}
                for p, e in sorted(commit.files.items())
            ]
        return data

    def _paginate(self, items: list[Any], query: dict[str, list[str]], base: str, keep: dict[str, list[str]]) -> None:
        start = int((query.get("cursor") or ["0"])[0])
        size = self.hub.page_size
        page = items[start:start + size]
        headers = {}
        if start + size < len(items):
            params = "&".join(f"{k}={quote(v)}" for k, vs in keep.items() for v in vs if k != "cursor")
            headers["Link"] = f'<{self.hub.url}{base}?{params}&cursor={start + size}>; rel="next"'
        self._json(200, page, headers)

    def _list_models(self, query: dict[str, list[str]]) -> None:
        search = (query.get("search") or [""])[0].lower()
        author = (query.get("author") or [None])[0]
        filters = [f for value in query.get("filter", []) for f in value.split(",") if f]
        full = any(query.get(k, ["false"])[0].lower() in ("1", "true") for k in ("full", "cardData"))
        rows = []
        for repo_id, repo in sorted(self.hub.store.repos.items()):
            if repo.private and not self._authed():
                continue
            if search and search not in repo_id.lower() or author and repo_id.split("/")[0] != author:
                continue
            row = self._model_json(repo, repo.head, full=True)
            if not all(f in row["tags"] for f in filters):
                continue
            if not full:
                row.pop("cardData"), row.pop("siblings")
            rows.append(row)
        limit = (query.get("limit") or [None])[0]
        rows = rows[: int(limit)] if limit else rows
        if self.hub.lies is not None and self.hub.lies.models:
            rows = self.hub.lies.models(rows)
        self._paginate(rows, query, "/api/models", query)

    def _tree(self, repo: Repo, rev: str, prefix: str, query: dict[str, list[str]], requested: str = "") -> None:
        commit = repo.resolve(rev)
        if commit is None:
            return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        recursive = (query.get("recursive") or ["false"])[0].lower() in ("1", "true")
        prefix = prefix.strip("/")
        base = f"{prefix}/" if prefix else ""
        items: dict[str, dict[str, Any]] = {}
        for path, entry in sorted(commit.files.items()):
            if not path.startswith(base):
                continue
            parts = path[len(base):].split("/")
            for depth in range(1, len(parts)):
                directory = base + "/".join(parts[:depth])
                if recursive or depth == 1:
                    items.setdefault(directory, {"type": "directory", "path": directory, "oid": "0" * 40, "size": 0})
                if not recursive:
                    break
            if recursive or len(parts) == 1:
                items[path] = entry.tree_json(path)
        if prefix and not items:
            return self._error(404, f"{prefix} does not exist at {rev}", "EntryNotFound")
        listing = sorted(items.values(), key=lambda i: i["path"])
        if self.hub.lies is not None and self.hub.lies.tree:
            listing = self.hub.lies.tree(requested, listing)
        self._paginate(listing, query,
                       f"/api/models/{repo.repo_id}/tree/{quote(rev, safe='')}/{quote(prefix)}", query)

    def _commit(self, repo: Repo, branch: str, body: bytes) -> None:
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next((line["value"] for line in lines if line["key"] == "header"), {})
        files: dict[str, bytes] = {}
        lfs_files: dict[str, tuple[str, int]] = {}
        deleted: list[str] = []
        for line in lines:
            value = line["value"]
            if line["key"] == "file":
                data = base64.b64decode(value["content"]) if value.get("encoding") == "base64" else value["content"].encode()
                files[value["path"]] = data
                self.hub.uploads.append({"kind": "commit-file", "path": value["path"], "bytes": len(data)})
            elif line["key"] == "lfsFile":
                lfs_files[value["path"]] = (value["oid"], int(value.get("size") or self.hub.store.blob_path(value["oid"]).stat().st_size))
            elif line["key"] in ("deletedFile", "deletedFolder"):
                deleted.append(value["path"])
        if branch not in repo.branches:
            return self._error(404, f"Invalid rev id: {branch}", "RevisionNotFound")
        commit = self.hub.store.commit(repo, branch, header.get("summary", ""), header.get("description", ""),
                                       files=files, lfs_files=lfs_files, deleted=deleted,
                                       parent=header.get("parentCommit"))
        self._json(200, {"success": True, "commitOid": commit.oid, "pullRequestUrl": None,
                         "commitUrl": f"{self.hub.url}/{repo.repo_id}/commit/{commit.oid}"})

    def _lfs_batch(self, owner: str, name: str, data: dict[str, Any]) -> None:
        if self._repo(owner, name) is None:
            return
        if not self._authed():
            return self._error(401, "You must be authenticated to upload")
        objects = []
        for obj in data.get("objects", []):
            item: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if not self.hub.store.has_blob(obj["oid"]):
                item["actions"] = {
                    "upload": {"href": f"{self.hub.url}/lfs/upload/{obj['oid']}", "header": {}},
                    "verify": {"href": f"{self.hub.url}/lfs/verify/{obj['oid']}", "header": {}},
                }
            objects.append(item)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                   content_type="application/vnd.git-lfs+json")

    def _lfs_object(self, action: str, oid: str, body: bytes) -> None:
        if action == "upload":
            self.hub.uploads.append({"kind": "lfs-put", "path": oid, "bytes": len(body)})
            if self.hub.store.put_blob(body) != oid:
                self.hub.store.blob_path(hashlib.sha256(body).hexdigest()).unlink(missing_ok=True)
                return self._error(400, f"Uploaded content does not match oid {oid}")
            return self._send(200)
        data = json.loads(body)
        if not self.hub.store.has_blob(oid) or self.hub.store.blob_path(oid).stat().st_size != data.get("size"):
            return self._error(404, f"LFS object {oid} not found or wrong size")
        return self._json(200, {})

    def _resolve(self, method: str, owner: str, name: str, rev: str, filename: str) -> None:
        head = method == "HEAD"
        repo = self._repo(owner, name, head=head)
        if repo is None:
            return
        rev, filename = unquote(rev), unquote(filename)
        commit = repo.resolve(self._lied_rev(rev))
        if commit is None:
            return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound", head=head)
        entry = commit.files.get(filename)
        if entry is None:
            return self._error(404, f"{filename} does not exist at {rev}", "EntryNotFound", head=head)
        data = self.hub.store.blob_path(entry.sha256).read_bytes()
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{entry.git_oid}"', "Accept-Ranges": "bytes"}
        if entry.lfs:
            headers.update({"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)})
        status, start = 200, 0
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
        if match and int(match.group(1)) < len(data):
            status, start = 206, int(match.group(1))
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        lies = self.hub.lies
        if lies is not None and lies.file:
            headers, body = lies.file(f"{owner}/{name}", filename, headers, body)
        if head or not self.hub._bytes_per_s:
            return self._send(status, body, headers, content_type="application/octet-stream", head=head)
        self.hub.requests.append(f"BODY-START {filename}")
        self._send(status, b"", headers, content_type="application/octet-stream", length=len(body))
        step = max(1, int(self.hub._bytes_per_s / 20))
        for offset in range(0, len(body), step):
            self.wfile.write(body[offset:offset + step])
            self.wfile.flush()
            time.sleep(0.05)


__all__ = ["HubServer", "Lies", "TOKEN", "USER", "card_metadata", "now"]
