"""Root's sweep of a sandbox user's leftovers in shared folders (grader/trusted/cleanup.py):
it deletes what that user owns and nothing else, even when a colluding sandbox user graded at
the same time swaps folders for links while it runs."""
import os
import stat

import pytest

from grader.trusted import cleanup

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown to other uids needs root")
SWEPT, COLLUDER = 64011, 64012  # uids no account uses: only their numbers matter here


def _owned(path, uid, *, mode=None, text=None):
    if text is None:
        path.mkdir()
    else:
        path.write_text(text)
    os.chown(path, uid, uid)
    if mode is not None:
        os.chmod(path, mode)
    return path


@pytest.fixture
def shared(tmp_path):
    """A stand-in for /tmp: world-writable and sticky, with a root-only folder beside it."""
    top = tmp_path / "tmp"
    top.mkdir()
    os.chmod(top, 0o1777)
    secret = tmp_path / "root-only"
    secret.mkdir(mode=0o700)
    (secret / "leftover").write_text("root's")
    os.chmod(secret / "leftover", 0o600)
    return top, secret


def test_sweep_deletes_the_users_files_at_any_depth_and_nothing_else(shared):
    top, secret = shared
    drop = _owned(top / "drop", COLLUDER, mode=0o777)  # a classmate's world-writable folder
    _owned(drop / "mine", SWEPT, text="x")
    _owned(drop / "theirs", COLLUDER, text="y")
    deep = _owned(top / "deep", SWEPT)
    for level in range(40):
        deep = _owned(deep / f"d{level}", SWEPT)
    os.symlink(secret / "leftover", top / "link")
    os.chown(top / "link", SWEPT, SWEPT, follow_symlinks=False)
    cleanup.sweep_shared(SWEPT, folders=[str(top)])
    assert sorted(p.name for p in top.iterdir()) == ["drop"]
    assert [p.name for p in drop.iterdir()] == ["theirs"]
    assert (secret / "leftover").read_text() == "root's"


@pytest.mark.parametrize("depth", [1, 3])
def test_a_folder_swapped_for_a_link_mid_sweep_costs_root_nothing(shared, monkeypatch, depth):
    """The attack of issue 20: the swept user's file sits in a colluder's world-writable
    folder; right after root checked the file's owner, the colluder renames the folder away
    and puts a link to a root-only folder holding a file of the same name in its place."""
    top, secret = shared
    folder = top
    for level in range(depth):
        folder = _owned(folder / f"drop{level}", COLLUDER, mode=0o777)
    target = _owned(folder / "leftover", SWEPT, text="the sandbox user's")
    inode, swapped = target.stat().st_ino, []
    real_stat, real_lstat = os.stat, os.lstat

    def swap_after(stat_function):
        def wrapper(*args, **kwargs):
            result = stat_function(*args, **kwargs)
            if result.st_ino == inode and not swapped:
                swapped.append(True)
                os.rename(folder, folder.with_name("moved"))
                os.symlink(secret, folder)
            return result
        return wrapper
    monkeypatch.setattr(os, "stat", swap_after(real_stat))
    monkeypatch.setattr(os, "lstat", swap_after(real_lstat))
    cleanup.sweep_shared(SWEPT, folders=[str(top)])
    monkeypatch.undo()
    assert swapped, "the sweep never looked at the sandbox user's file"
    assert (secret / "leftover").read_text() == "root's"
    assert not (folder.with_name("moved") / "leftover").exists()  # the real leftover: gone


def test_remove_tree_still_deletes_any_tree_and_a_missing_path_quietly(tmp_path, capsys):
    tree = tmp_path / "t"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "f").write_text("x")
    os.chmod(tree / "a", 0)
    cleanup.remove_tree(str(tree))
    cleanup.remove_tree(str(tmp_path / "missing"))
    assert not tree.exists() and capsys.readouterr().err == ""
    assert stat.S_ISDIR(os.stat(tmp_path).st_mode)
