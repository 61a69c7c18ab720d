"""commands/src/toollabs/become.py and names.py: names, refusals, messages."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "commands" / "src"))
from toollabs import become, names  # noqa: E402


@pytest.mark.parametrize(
    "given,bare",
    [("mytool", "mytool"), ("tools.mytool", "mytool"), ("a", "a"), ("a-b_c9", "a-b_c9"), ("x" * 32, "x" * 32)],
)
def test_tool_names(given, bare):
    assert names.tool_name(given) == bare
    assert names.tool_user(given) == f"tools.{bare}"
    assert names.tool_home(given) == f"/data/project/{bare}"


@pytest.mark.parametrize("bad", ["", "9tool", "Tool", "tools.tools.x", "my tool", "x" * 33, "../etc", "tools."])
def test_bad_tool_names_say_what_to_use(bad):
    with pytest.raises(names.InvalidToolName, match="lower-case letter"):
        names.tool_name(bad)


@pytest.fixture
def accounts(monkeypatch):
    """tools.mytool (gid 50001) exists with its home; nothing else does."""
    users = {"tools.mytool": SimpleNamespace(pw_uid=50001)}
    groups = {"tools.mytool": SimpleNamespace(gr_gid=50001)}

    def lookup(table):
        def get(name):
            return table[name]  # KeyError like pwd/grp

        return get

    monkeypatch.setattr(become.pwd, "getpwnam", lookup(users))
    monkeypatch.setattr(become.grp, "getgrnam", lookup(groups))


def isdir(path):
    return path == "/data/project/mytool"


def test_a_maintainer_becomes_the_tool(accounts):
    assert become.check("mytool", [2001, 50001], isdir) == (0, "tools.mytool")
    assert become.check("tools.mytool", [50001], isdir) == (0, "tools.mytool")


def test_not_a_maintainer(accounts):
    code, message = become.check("mytool", [2002], isdir)
    assert code == 1
    assert message.splitlines()[0] == "become: You are not a member of the group tools.mytool."


@pytest.mark.parametrize("name", ["othertool", "Bad Name"])
def test_no_such_tool(accounts, name):
    assert become.check(name, [50001], isdir) == (1, f"become: no such tool '{name}'")


def test_no_such_tool_without_a_home(accounts):
    assert become.check("mytool", [50001], lambda p: False) == (1, "become: no such tool 'mytool'")


def test_usage_without_arguments(capsys):
    assert become.main([]) == 1
    assert "usage: become TOOL" in capsys.readouterr().err


def test_wait_for_sudo_rule_returns_at_once_when_allowed():
    calls = []
    assert become.wait_for_sudo_rule("tools.x", probe=lambda u: calls.append(u) or True, sleep=lambda s: None)
    assert calls == ["tools.x"]


def test_wait_for_sudo_rule_waits_for_a_new_rule(capsys):
    answers = iter([False, False, True])
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    assert become.wait_for_sudo_rule("tools.x", timeout=5, probe=lambda u: next(answers), sleep=sleep,
                                      clock=lambda: now[0])
    assert now[0] == 1.0
    assert "waiting a few seconds" in capsys.readouterr().err


def test_wait_for_sudo_rule_gives_up():
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    assert not become.wait_for_sudo_rule("tools.x", timeout=2, probe=lambda u: False, sleep=sleep,
                                          clock=lambda: now[0])
    assert now[0] == 2.0
