"""commands/src/toollabs/take.py: the checks and attacks of BEHAVIOR.md, on real files.

Runs as root (as CI does) so that files can belong to other uids; the caller is
the tool uid TOOL with the groups given to take().
"""

from __future__ import annotations

import os
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "commands" / "src"))
from toollabs import take as t  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create files of other users")

TOOL, ALICE, OTHER_TOOL = 50001, 2001, 50002


@pytest.fixture
def home(tmp_path):
    """A tool home: owned by the tool, group the tool, setgid, as on the cluster."""
    home = tmp_path / "tool"
    home.mkdir()
    os.chown(home, TOOL, TOOL)
    home.chmod(0o2775)
    return home


def alices(path, content="x", group=TOOL):
    path.write_text(content)
    os.chown(path, ALICE, group)
    return path


def owner(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid


def test_takes_a_file_alice_copied_in_keeping_its_group(home):
    f = alices(home / "bot.py")
    assert t.take(str(f), TOOL, [TOOL]) == []
    assert owner(f) == (TOOL, TOOL)


def test_takes_a_directory_recursively(home):
    d = home / "src"
    d.mkdir()
    os.chown(d, ALICE, TOOL)
    (d / "lib").mkdir()
    os.chown(d / "lib", ALICE, TOOL)
    f = alices(d / "lib" / "x.py")
    assert t.take(str(d), TOOL, [TOOL]) == []
    assert owner(d)[0] == owner(d / "lib")[0] == owner(f)[0] == TOOL


def test_refuses_a_symlink_and_leaves_its_target_alone(home, tmp_path):
    victim = alices(tmp_path / "victim")
    (home / "link").symlink_to(victim)
    assert t.take(str(home / "link"), TOOL, [TOOL]) == [f"take: {home}/link: is a symbolic link; take does not follow links"]
    assert owner(victim) == (ALICE, TOOL)


def test_refuses_a_hard_linked_file(home, tmp_path):
    victim = alices(tmp_path / "victim")
    os.link(victim, home / "hard")
    assert t.take(str(home / "hard"), TOOL, [TOOL]) == [f"take: {home}/hard: has other hard links; copy it instead"]
    assert owner(victim) == (ALICE, TOOL)


def test_refuses_a_file_in_a_directory_the_caller_does_not_own(tmp_path):
    elsewhere = tmp_path / "other-tool"
    elsewhere.mkdir()
    os.chown(elsewhere, OTHER_TOOL, TOOL)
    f = alices(elsewhere / "data")
    assert t.take(str(f), TOOL, [TOOL]) == [f"take: {f}: you do not own the directory it is in"]
    assert owner(f) == (ALICE, TOOL)


def test_refuses_a_file_in_no_shared_group(home):
    f = alices(home / "private", group=ALICE)
    assert t.take(str(f), TOOL, [TOOL]) == [f"take: {f}: you share no group with it"]
    assert owner(f) == (ALICE, ALICE)


def test_a_walk_skips_links_and_reports_what_it_refused(home, tmp_path):
    victim = alices(tmp_path / "victim")
    d = home / "tree"
    d.mkdir()
    os.chown(d, ALICE, TOOL)
    good = alices(d / "good")
    (d / "link").symlink_to(victim)
    os.link(victim, d / "hard")
    secret = alices(d / "secret", group=ALICE)
    errors = t.take(str(d), TOOL, [TOOL])
    assert errors == [
        f"take: {d}/hard: has other hard links; copy it instead",
        f"take: {d}/secret: you share no group with it",
    ]
    assert owner(good)[0] == TOOL
    assert owner(victim) == (ALICE, TOOL) and owner(secret) == (ALICE, ALICE)
    assert os.lstat(d / "link").st_uid == 0, "a link in the tree is left as it is"


def test_refuses_fifos_without_hanging(home):
    fifo = home / "pipe"
    os.mkfifo(fifo)
    os.chown(fifo, ALICE, TOOL)
    assert t.take(str(fifo), TOOL, [TOOL]) == [f"take: {fifo}: is neither a regular file nor a directory"]


@pytest.mark.parametrize("name", [".", "..", "/"])
def test_refuses_dot_names(home, name):
    path = "/" if name == "/" else f"{home}/{name}"
    assert "name a file or directory" in t.take(path, TOOL, [TOOL])[0]


def test_a_missing_file_is_reported(home):
    assert t.take(str(home / "nope"), TOOL, [TOOL]) == [f"take: {home}/nope: No such file or directory"]


def test_helper_refuses_to_run_without_sudo(capsys):
    assert t.helper_main(["x"], environ={}) == 2
    assert "through take" in capsys.readouterr().err


def test_helper_exits_1_if_any_argument_failed(home, capsys):
    good = alices(home / "good")
    env = {"SUDO_UID": str(TOOL)}
    # uid 50001 has no passwd entry here: let the helper find its groups anyway
    import pwd as real_pwd

    class Entry:
        pw_name, pw_gid = "root", TOOL

    orig_getpwuid, orig_grouplist = real_pwd.getpwuid, os.getgrouplist
    try:
        t.pwd.getpwuid = lambda uid: Entry()
        t.os.getgrouplist = lambda name, gid: [gid]
        assert t.helper_main(["--", str(good), str(home / "missing")], environ=env) == 1
    finally:
        t.pwd.getpwuid, t.os.getgrouplist = orig_getpwuid, orig_grouplist
    assert owner(good)[0] == TOOL
    assert "missing: No such file or directory" in capsys.readouterr().err
