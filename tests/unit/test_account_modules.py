"""library/toollabs_directory.py and library/tool_account.py, run in-process with
patch_module_args against an in-memory directory (tests/unit/fake_ldap.py) and
homes in a temporary directory. The tool tests chown homes to tool uids, so they
need root (as `make test` runs); as another user they are skipped."""

from __future__ import annotations

import os
import sys
import tarfile

import fake_ldap
import pytest
from ansible.module_utils.testing import patch_module_args

from conftest import ROOT, load

fake_ldap.install()
utils = load("module_utils/toollabs_ldap.py", "ansible.module_utils.toollabs_ldap")
directory_module = load("library/toollabs_directory.py", "toollabs_directory")
account_module = load("library/tool_account.py", "tool_account")

SUFFIX = "dc=toollabs"
PEOPLE = [
    {"name": "alice", "uid": 2001, "comment": "Alice", "ssh_keys": ["ssh-ed25519 AAAAC3Nza alice@laptop"]},
    {"name": "bob", "uid": 2002, "ssh_keys": ["ssh-ed25519 AAAAC3Nzb bob@laptop"], "admin": True},
]


class Exit(Exception):
    """exit_json was called."""


class Fail(Exception):
    """fail_json was called."""


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="tool homes are chowned to tool uids: run as root")


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """A fresh directory per test."""
    fake_ldap.SERVER = fake_ldap.Directory()
    for module in (directory_module, account_module):
        monkeypatch.setattr(module.AnsibleModule, "exit_json", lambda self, **kw: (_ for _ in ()).throw(Exit(kw)))
        monkeypatch.setattr(module.AnsibleModule, "fail_json", lambda self, **kw: (_ for _ in ()).throw(Fail(kw)))
    (tmp_path / "project").mkdir()


def run(module, args, check=False, diff=True):
    with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)):
        with pytest.raises((Exit, Fail)) as caught:
            module.main()
    outcome = caught.value.args[0]
    outcome["failed"] = isinstance(caught.value, Fail)
    return outcome


def seed(people=PEOPLE, **extra):
    return run(directory_module, {
        "suffix": SUFFIX,
        "bind_accounts": [{"name": "toollabs-admin", "password": "s3cret-admin"}],
        "people": people,
        **extra,
    })


def tools(tmp_path, items, check=False, **extra):
    return run(account_module, {
        "suffix": SUFFIX, "tools": items, "home_root": str(tmp_path / "project"),
        "archive_dir": str(tmp_path / "archive"), "bind_dn": "cn=toollabs-admin,ou=services,dc=toollabs",
        "bind_password": "s3cret-admin", **extra,
    }, check=check)


def entry(dn):
    return {k: [v.decode() for v in vs] for k, vs in fake_ldap.SERVER.entries[dn].items()}


# --- toollabs_directory ---------------------------------------------------------

def test_directory_writes_skeleton_people_and_is_idempotent():
    first = seed()
    assert not first["failed"] and first["changed"]
    assert entry("uid=alice,ou=people,dc=toollabs")["uidNumber"] == ["2001"]
    assert entry("uid=alice,ou=people,dc=toollabs")["sshPublicKey"] == ["ssh-ed25519 AAAAC3Nza alice@laptop"]
    assert entry("cn=bob,ou=groups,dc=toollabs")["gidNumber"] == ["2002"]
    assert entry("cn=next-tool-uid,dc=toollabs")["uidNumber"] == ["50000"]
    stored = entry("cn=toollabs-admin,ou=services,dc=toollabs")["userPassword"][0]
    assert stored.startswith("{SSHA}") and utils.ssha_matches(stored, "s3cret-admin")
    writes = fake_ldap.SERVER.writes
    second = seed()
    assert second["changed"] is False and second["changed_dns"] == []
    assert fake_ldap.SERVER.writes == writes


def test_directory_changes_a_password_without_showing_it():
    seed()
    result = run(directory_module, {"suffix": SUFFIX, "bind_accounts": [{"name": "toollabs-admin", "password": "new"}]})
    assert result["changed_dns"] == ["cn=toollabs-admin,ou=services,dc=toollabs"]
    assert "new" not in result["diff"]["after"] and "userPassword: (changed)" in result["diff"]["after"]
    assert utils.ssha_matches(entry("cn=toollabs-admin,ou=services,dc=toollabs")["userPassword"][0], "new")


def test_directory_updates_and_removes_people():
    seed()
    changed = [dict(PEOPLE[0], shell="/bin/zsh"), {"name": "bob", "state": "absent"}]
    result = seed(people=changed)
    assert set(result["changed_dns"]) == {
        "uid=alice,ou=people,dc=toollabs", "uid=bob,ou=people,dc=toollabs", "cn=bob,ou=groups,dc=toollabs"}
    assert entry("uid=alice,ou=people,dc=toollabs")["loginShell"] == ["/bin/zsh"]
    assert "uid=bob,ou=people,dc=toollabs" not in fake_ldap.SERVER.entries


@pytest.mark.parametrize(
    "person,message",
    [
        ({"name": "carol", "uid": 50001}, "uid must be a number from 1000 to 49999"),
        ({"name": "Carol", "uid": 2003}, "not a valid login name"),
        ({"name": "carol", "uid": 2001}, "uid 2001 is also alice's"),
        ({"name": "carol", "uid": 2003, "ssh_keys": ["garbage"]}, "is not one SSH public key line"),
    ],
)
def test_directory_refuses_bad_people_before_writing(person, message):
    result = seed(people=[*PEOPLE, person])
    assert result["failed"] and message in result["msg"] and "nothing was changed" in result["msg"]
    assert fake_ldap.SERVER.writes == 0


def test_directory_check_mode_writes_nothing():
    result = run(directory_module, {"suffix": SUFFIX, "people": PEOPLE}, check=True)
    assert result["changed"] and "uid=alice,ou=people,dc=toollabs" in result["changed_dns"]
    assert fake_ldap.SERVER.writes == 0


# --- tool_account ---------------------------------------------------------------

@needs_root

def test_tools_are_created_with_consecutive_uids_homes_and_sudo(tmp_path):
    seed()
    result = tools(tmp_path, [
        {"name": "wikibugs", "maintainers": ["alice", "bob"], "description": "Relays <b>bugs</b>."},
        {"name": "tools.botwatch", "maintainers": ["bob"]},
    ])
    assert not result["failed"], result["msg"]
    assert result["created"] == ["wikibugs", "botwatch"]
    assert result["tools"]["wikibugs"]["uid"] == 50000 and result["tools"]["botwatch"]["uid"] == 50001
    assert entry("uid=tools.wikibugs,ou=tools,dc=toollabs")["homeDirectory"] == [str(tmp_path / "project/wikibugs")]
    assert sorted(entry("cn=tools.wikibugs,ou=groups,dc=toollabs")["memberUid"]) == ["alice", "bob"]
    sudo = entry("cn=tools.wikibugs,ou=sudoers,dc=toollabs")
    assert sudo["sudoUser"] == ["%tools.wikibugs"] and sudo["sudoRunAsUser"] == ["tools.wikibugs"]
    assert sudo["sudoCommand"] == ["ALL"] and sudo["sudoOption"] == ["!authenticate"]
    assert entry("cn=next-tool-uid,dc=toollabs")["uidNumber"] == ["50002"]
    home = tmp_path / "project" / "wikibugs"
    assert oct(home.stat().st_mode & 0o7777) == oct(0o2775)
    assert oct((home / "public_html").stat().st_mode & 0o7777) == oct(0o2775)
    assert (home / ".description").read_text() == "Relays <b>bugs</b>.\n"
    assert (tmp_path / "project" / "botwatch" / ".description").read_text() == ""
    assert (home.stat().st_uid, home.stat().st_gid) == (50000, 50000)
    assert (home / ".description").stat().st_uid == 50000


@needs_root
def test_a_second_run_changes_nothing(tmp_path):
    seed()
    items = [{"name": "wikibugs", "maintainers": ["alice"], "description": "x"}]
    tools(tmp_path, items)
    writes = fake_ldap.SERVER.writes
    again = tools(tmp_path, items)
    assert again["changed"] is False and again["diff"] == {"before": "", "after": ""}
    assert fake_ldap.SERVER.writes == writes


@needs_root
def test_maintainers_are_synchronised_and_kept_when_not_given(tmp_path):
    seed()
    tools(tmp_path, [{"name": "wikibugs", "maintainers": ["alice"]}])
    result = tools(tmp_path, [{"name": "wikibugs", "maintainers": ["bob"]}])
    assert result["updated"] == ["wikibugs"]
    assert "maintainers=alice" in result["diff"]["before"] and "maintainers=bob" in result["diff"]["after"]
    assert entry("cn=tools.wikibugs,ou=groups,dc=toollabs")["memberUid"] == ["bob"]
    kept = tools(tmp_path, [{"name": "wikibugs"}])
    assert kept["changed"] is False
    assert kept["tools"]["wikibugs"]["maintainers"] == ["bob"]


@needs_root
def test_the_description_is_left_alone_unless_given(tmp_path):
    seed()
    tools(tmp_path, [{"name": "wikibugs", "maintainers": ["alice"], "description": "first"}])
    path = tmp_path / "project" / "wikibugs" / ".description"
    path.write_text("edited by a maintainer\n")
    assert tools(tmp_path, [{"name": "wikibugs", "maintainers": ["alice"]}])["changed"] is False
    assert path.read_text() == "edited by a maintainer\n"
    assert tools(tmp_path, [{"name": "wikibugs", "description": "second"}])["changed"] is True
    assert path.read_text() == "second\n"


@needs_root
def test_check_mode_predicts_and_writes_nothing(tmp_path):
    seed()
    writes = fake_ldap.SERVER.writes
    result = tools(tmp_path, [{"name": "wikibugs", "maintainers": ["alice"]}], check=True)
    assert result["changed"] and result["created"] == ["wikibugs"]
    assert result["tools"]["wikibugs"]["uid"] == 50000
    assert "tools.wikibugs uid=50000 maintainers=alice" in result["diff"]["after"]
    assert fake_ldap.SERVER.writes == writes
    assert not (tmp_path / "project" / "wikibugs").exists()


@needs_root
@pytest.mark.parametrize(
    "items,message",
    [
        ([{"name": "tools.tools.x", "maintainers": ["alice"]}], "prefix twice"),
        ([{"name": "Web", "maintainers": ["alice"]}], "'Web' is not a valid tool name"),
        ([{"name": "a" * 33, "maintainers": ["alice"]}], "is not a valid tool name"),
        ([{"name": "admin", "maintainers": ["alice"]}], "'admin' is a reserved name"),
        ([{"name": "alice", "maintainers": ["alice"]}], "taken by a person"),
        ([{"name": "web", "maintainers": ["alice", "carol"]}], "unknown maintainer(s) carol"),
        ([{"name": "web"}], "needs at least one maintainer"),
        ([{"name": "web", "maintainers": ["alice"], "description": "x" * 1001}], "at most 1000"),
        ([{"name": "web", "maintainers": ["alice"]}, {"name": "tools.web", "maintainers": ["bob"]}], "listed twice"),
    ],
)
def test_bad_input_fails_whole_and_writes_nothing(tmp_path, items, message):
    seed()
    writes = fake_ldap.SERVER.writes
    # A good tool in the same run is not created either.
    result = tools(tmp_path, [{"name": "good", "maintainers": ["alice"]}, *items])
    assert result["failed"] and message in result["msg"] and result["msg"].startswith("Nothing was changed")
    assert fake_ldap.SERVER.writes == writes
    assert os.listdir(tmp_path / "project") == []


@needs_root
def test_a_stray_directory_where_the_home_would_go_is_refused(tmp_path):
    seed()
    (tmp_path / "project" / "web").mkdir()
    result = tools(tmp_path, [{"name": "web", "maintainers": ["alice"]}])
    assert result["failed"] and "exists but belongs to no tool" in result["msg"]


@needs_root
def test_a_failed_write_takes_back_the_half_made_tool(tmp_path):
    seed()
    fake_ldap.SERVER.fail_on[("add", "cn=tools.broken,ou=sudoers,dc=toollabs")] = fake_ldap.LDAPError("disk full")
    result = tools(tmp_path, [{"name": "fine", "maintainers": ["alice"]}, {"name": "broken", "maintainers": ["alice"]}])
    assert result["failed"] and "Stopped at tool 'broken'" in result["msg"] and "disk full" in result["msg"]
    assert "uid=tools.fine,ou=tools,dc=toollabs" in fake_ldap.SERVER.entries
    assert not [dn for dn in fake_ldap.SERVER.entries if "tools.broken" in dn]
    assert sorted(os.listdir(tmp_path / "project")) == ["fine"]


@needs_root
def test_removal_archives_first_and_uids_are_never_reused(tmp_path):
    seed()
    tools(tmp_path, [{"name": "old", "maintainers": ["alice"]}])
    (tmp_path / "project" / "old" / "data.txt").write_text("keep me\n")
    result = tools(tmp_path, [{"name": "old", "state": "absent"}])
    assert result["removed"] == ["old"] and len(result["archives"]) == 1
    archive = result["archives"][0]
    assert os.path.basename(archive).startswith("old-50000-") and archive.endswith(".tar.gz")
    assert oct(os.stat(archive).st_mode & 0o777) == oct(0o600)
    assert oct(os.stat(tmp_path / "archive").st_mode & 0o777) == oct(0o700)
    with tarfile.open(archive) as tar:
        assert tar.extractfile("old/data.txt").read() == b"keep me\n"
    assert not (tmp_path / "project" / "old").exists()
    assert not [dn for dn in fake_ldap.SERVER.entries if "tools.old" in dn]
    again = tools(tmp_path, [{"name": "old", "maintainers": ["alice"]}])
    assert again["tools"]["old"]["uid"] == 50001
    gone = tools(tmp_path, [{"name": "never-there", "state": "absent"}])
    assert gone["changed"] is False


@needs_root
def test_uids_skip_past_tools_made_outside_the_counter(tmp_path):
    seed()
    fake_ldap.SERVER.entries["uid=tools.manual,ou=tools,dc=toollabs"] = {
        "objectClass": [b"posixAccount"], "uid": [b"tools.manual"], "uidNumber": [b"50007"]}
    result = tools(tmp_path, [{"name": "next", "maintainers": ["alice"]}])
    assert result["tools"]["next"]["uid"] == 50008


@needs_root
def test_concurrent_allocations_do_not_share_a_uid(tmp_path, monkeypatch):
    seed()
    original = fake_ldap.Connection.modify_s
    raced = []

    def modify_after_another_run(self, dn, modlist):
        if dn == "cn=next-tool-uid,dc=toollabs" and not raced:
            raced.append(True)  # another run takes 50000-50002 just before this one writes
            original(self, dn, [(fake_ldap.MOD_REPLACE, "uidNumber", [b"50003"])])
        return original(self, dn, modlist)

    monkeypatch.setattr(fake_ldap.Connection, "modify_s", modify_after_another_run)
    result = tools(tmp_path, [{"name": "racer", "maintainers": ["alice"]}])
    assert result["tools"]["racer"]["uid"] == 50003
    assert entry("cn=next-tool-uid,dc=toollabs")["uidNumber"] == ["50004"]


def test_ssha_hashes():
    hashed = utils.ssha_hash("pw", b"saltsalt")
    assert utils.ssha_matches(hashed, "pw") and not utils.ssha_matches(hashed, "other")
    assert not utils.ssha_matches("{CRYPT}x", "pw") and not utils.ssha_matches("{SSHA}!!", "pw")


def test_names_agree_with_the_commands_package():
    sys.path.insert(0, str(ROOT / "commands" / "src"))
    from toollabs import names

    for name in ["web", "tools.web", "a-b_c", "Web", "tools.tools.web", "1x", "a" * 32, "a" * 33, "tools."]:
        try:
            expected = names.tool_user(name)
        except names.InvalidToolName:
            expected = None
        try:
            got = utils.tool_user(name)
        except utils.AccountError:
            got = None
        assert got == expected, name


def test_check_mode_on_a_host_not_set_up_yet_predicts_creation(tmp_path, monkeypatch):
    def down(uri):
        raise fake_ldap.SERVER_DOWN({"desc": "Can't contact LDAP server"})

    monkeypatch.setattr(fake_ldap, "initialize", down)
    items = [{"name": "web", "maintainers": ["alice"]}]
    checked = tools(tmp_path, items, check=True)
    assert not checked["failed"] and checked["changed"] and checked["created"] == ["web"]
    real = tools(tmp_path, items)
    assert real["failed"] and "Cannot reach the directory" in real["msg"]


def test_a_missing_ca_certificate_is_named(tmp_path):
    seed()
    items = [{"name": "web", "maintainers": ["alice"]}]
    missing = str(tmp_path / "no-ca.crt")
    checked = tools(tmp_path, items, check=True, ca_file=missing)
    assert not checked["failed"] and checked["created"] == ["web"]
    real = tools(tmp_path, items, ca_file=missing)
    assert real["failed"] and f"The CA certificate {missing} is missing" in real["msg"]
