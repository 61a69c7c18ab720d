"""library/toollabs_files.py: run the module in-process with patch_module_args."""

from __future__ import annotations

import os

import pytest
from ansible.module_utils.testing import patch_module_args

from conftest import load

mod = load("library/toollabs_files.py", "toollabs_files")


class Exit(Exception):
    """exit_json was called."""


class Fail(Exception):
    """fail_json was called."""


@pytest.fixture(autouse=True)
def catch_exits(monkeypatch):
    def exit_json(self, **kwargs):
        raise Exit(kwargs)

    def fail_json(self, **kwargs):
        raise Fail(kwargs)

    monkeypatch.setattr(mod.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(mod.AnsibleModule, "fail_json", fail_json)


def run(files, check=False, diff=False):
    args = {"files": files, "_ansible_check_mode": check, "_ansible_diff": diff}
    with patch_module_args(args):
        with pytest.raises((Exit, Fail)) as caught:
            mod.main()
    outcome = caught.value.args[0]
    outcome["failed"] = isinstance(caught.value, Fail)
    return outcome


def me():
    return str(os.getuid()), str(os.getgid())


def spec(path, content="a=1\n", mode="0640"):
    owner, group = me()
    return {"path": str(path), "content": content, "mode": mode, "owner": owner, "group": group}


def test_writes_new_files_with_parents_and_is_idempotent(tmp_path):
    target = tmp_path / "etc" / "conf.d" / "x.conf"
    first = run([spec(target)])
    assert not first["failed"]
    assert first["changed"] and first["changed_paths"] == [str(target)]
    assert target.read_text() == "a=1\n"
    assert oct(target.stat().st_mode & 0o7777) == "0o640"
    second = run([spec(target)])
    assert second["changed"] is False and second["changed_paths"] == []


def test_a_mode_change_alone_is_a_change(tmp_path):
    target = tmp_path / "x.conf"
    run([spec(target)])
    result = run([spec(target, mode="0600")])
    assert result["changed_paths"] == [str(target)]
    assert oct(target.stat().st_mode & 0o7777) == "0o600"


def test_check_mode_reports_but_writes_nothing(tmp_path):
    target = tmp_path / "new.conf"
    result = run([spec(target)], check=True, diff=True)
    assert result["changed"] and result["changed_paths"] == [str(target)]
    assert result["diff"] == [{"before_header": str(target), "after_header": str(target), "before": "", "after": "a=1\n"}]
    assert not target.exists()


def test_diff_shows_before_and_after(tmp_path):
    target = tmp_path / "x.conf"
    run([spec(target, "old\n")])
    result = run([spec(target, "new\n")], diff=True)
    assert result["diff"][0]["before"] == "old\n" and result["diff"][0]["after"] == "new\n"


def test_absent_removes_only_existing_files(tmp_path):
    target = tmp_path / "gone.conf"
    run([spec(target)])
    result = run([{"path": str(target), "state": "absent"}, {"path": str(tmp_path / "never"), "state": "absent"}])
    assert result["changed_paths"] == [str(target)]
    assert not target.exists()


def test_failed_validation_keeps_the_old_file(tmp_path):
    target = tmp_path / "x.conf"
    run([spec(target, "good\n")])
    bad = dict(spec(target, "bad\n"), validate="grep -q good %s")
    result = run([bad])
    assert result["failed"]
    assert "was not written" in result["msg"] and str(target) in result["msg"]
    assert target.read_text() == "good\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.conf"], "the temporary copy must be removed"


def test_passing_validation_writes(tmp_path):
    target = tmp_path / "x.conf"
    result = run([dict(spec(target, "good\n"), validate="grep -q good %s")])
    assert result["changed"] and target.read_text() == "good\n"


def test_links_are_made_replacing_files_and_idempotent(tmp_path):
    target = tmp_path / "localtime"
    target.write_text("a copy of a zone file")
    link = {"path": str(target), "state": "link", "src": "/usr/share/zoneinfo/Etc/UTC"}
    result = run([link], diff=True)
    assert result["changed_paths"] == [str(target)]
    assert result["diff"][0]["after"] == "-> /usr/share/zoneinfo/Etc/UTC"
    assert os.readlink(target) == "/usr/share/zoneinfo/Etc/UTC"
    assert run([link])["changed"] is False
    moved = run([dict(link, src="/usr/share/zoneinfo/Europe/Berlin")], check=True)
    assert moved["changed"] and os.readlink(target) == "/usr/share/zoneinfo/Etc/UTC"


def test_a_link_becomes_a_file_again(tmp_path):
    target = tmp_path / "x.conf"
    os.symlink("/etc/hostname", target)
    result = run([spec(target)])
    assert result["changed_paths"] == [str(target)]
    assert not target.is_symlink() and target.read_text() == "a=1\n"


@pytest.mark.parametrize(
    "files,message",
    [
        ([{"path": "relative.conf", "content": "x"}], "must be absolute"),
        ([{"path": "/tmp/a", "content": "x", "mode": "rw-r--r--"}], "not an octal number"),
        ([{"path": "/tmp/a", "content": "x", "owner": "no-such-user-here"}], "owner 'no-such-user-here' does not exist"),
        ([{"path": "/tmp/a", "content": "x"}, {"path": "/tmp/a", "content": "y"}], "listed twice"),
        ([{"path": "/tmp/a"}], "content"),
        ([{"path": "/tmp/a", "state": "link"}], "src"),
        ([{"path": "/tmp/a", "content": "x", "validate": "true"}], "must contain %s"),
    ],
)
def test_bad_input_fails_with_a_clear_message(tmp_path, files, message):
    for item in files:
        if item["path"].startswith("/tmp/"):
            item["path"] = str(tmp_path / item["path"][5:])
    result = run(files)
    assert result["failed"]
    assert message in result["msg"]
    assert list(tmp_path.iterdir()) == [], "nothing may be written on bad input"


def test_check_mode_tolerates_an_owner_that_an_earlier_task_would_create(tmp_path):
    target = tmp_path / "server.key"
    result = run([{"path": str(target), "content": "k", "group": "no-such-group-yet", "mode": "0640"}], check=True)
    assert not result["failed"] and result["changed_paths"] == [str(target)]
    assert not target.exists()
