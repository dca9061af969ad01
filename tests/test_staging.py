"""genehub._staging: the one list of refused files, link detection, paths kept inside a root, and the swap."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from genehub._staging import inside, is_forbidden, replace_dir, staged_dir, tree_problems
from genehub.errors import UnsafeFileError


@pytest.mark.parametrize(("name", "forbidden"), [
    ("model.pt", True), ("sub/model.PT", True), ("x.Pickle", True), ("arr.npy", True), ("a.NPZ", True),
    ("m.joblib", True), ("adapter_model.safetensors", False), ("notes.binary", False), ("README.md", False),
])
def test_forbidden_suffixes_ignore_case(name, forbidden):
    assert is_forbidden(name) is forbidden


def test_tree_problems_finds_links_without_following_them(tmp_path):
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "evil.pkl").write_bytes(b"x")
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "w.PT").write_bytes(b"x")
    (root / "ok.txt").write_text("fine")
    (root / "dir-link").symlink_to(outside)
    (root / "file-link").symlink_to(root / "ok.txt")
    os.mkfifo(root / "pipe")
    found = tree_problems(root)
    assert (found.links, found.special, found.forbidden) == (["dir-link", "file-link"], ["pipe"], ["sub/w.PT"])


def test_inside_refuses_paths_that_leave_the_root(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "out").symlink_to(tmp_path)
    assert inside(tmp_path / "root", "a/b") == (tmp_path / "root" / "a" / "b").resolve()
    for bad in ("../x", "/etc/passwd", "a/../../x", "out/x"):
        with pytest.raises(UnsafeFileError, match="outside"):
            inside(tmp_path / "root", bad)


def test_staged_dir_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "gene"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with staged_dir(target) as tmp:
            (tmp / "new.txt").write_text("new")
            raise RuntimeError("failed half-way")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gene"] and (target / "old.txt").is_file()
    with staged_dir(target, copy_from=target) as tmp:
        (tmp / "old.txt").unlink()  # linked to the original: replace it, never write into it
        (tmp / "old.txt").write_text("replaced")
    assert (target / "old.txt").read_text() == "replaced"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gene"]


def test_replace_dir_puts_the_old_one_back_when_the_swap_fails(tmp_path, monkeypatch):
    target, staging = tmp_path / "t", tmp_path / "s"
    target.mkdir()
    (target / "keep").write_text("old")
    staging.mkdir()
    real_rename = os.rename

    def rename(src, dst):
        if Path(src) == staging:
            raise OSError("disk on fire")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OSError, match="disk on fire"):
        replace_dir(staging, target)
    assert (target / "keep").read_text() == "old"
