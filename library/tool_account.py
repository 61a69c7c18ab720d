#!/usr/bin/python
"""Create, update and remove Tool Labs tool accounts: directory entries and homes."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tool_account
short_description: Create, update and remove tool accounts (directory entries and homes)
description:
  - Converges any number of tools in one run. For each tool C(NAME) the directory
    holds the user and group C(tools.NAME) (uid == gid, from 50000 up), the group's
    members (the maintainers) and the sudo rule
    C(%tools.NAME ALL=(tools.NAME) NOPASSWD: ALL); the shared storage holds the
    home C(/data/project/NAME) (mode 2775, owned by the tool) with C(public_html/)
    and C(.description).
  - Runs on the storage server (it makes the homes) and writes the directory over
    LDAPS as the admin bind account; every host sees a change at once through sssd,
    so no play has to visit the other hosts.
  - uids come from a counter in the directory (C(cn=next-tool-uid)) that only
    grows: a removed tool's uid is never given to another tool.
  - Every tool of the list is checked before anything is written. An invalid or
    reserved name, a name taken by a person, an unknown maintainer, an overlong
    description or a stray directory where a new tool's home would go fails the
    whole run with a message naming the tool, and nothing is changed. If writing
    fails half-way, what this run created for a new tool is removed again.
  - Removing a tool first archives its home as a tarball (mode 0600) in
    O(archive_dir) (mode 0700, root only); only then are the home and the entries
    deleted.
version_added: "1.0.0"
author: Tool Labs project
requirements:
  - python3-ldap on the host that runs the module
options:
  tools:
    description: The tools to converge.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The tool's name, C(^[a-z][a-z0-9_-]{0,31}$); a leading C(tools.) is
            accepted once and removed.
        type: str
        required: true
      maintainers:
        description:
          - People (names in the directory's C(ou=people)) who maintain the tool;
            the group's members become exactly this list. Required to create a
            tool; when omitted for an existing tool its maintainers are kept.
        type: list
        elements: str
      description:
        description:
          - HTML for the tools list page, written to C(~/.description). When
            omitted the file is left as the maintainers wrote it (a new tool gets
            an empty one).
        type: str
      state:
        description: V(absent) archives the home and removes the tool.
        type: str
        choices: [present, absent]
        default: present
  suffix:
    description: The directory's base DN.
    type: str
    required: true
  uri:
    description: The directory's address.
    type: str
    default: ldaps://tools-ldap
  bind_dn:
    description: DN of the admin bind account; empty for SASL EXTERNAL over ldapi.
    type: str
  bind_password:
    description: Its password.
    type: str
  ca_file:
    description: CA certificate to check the directory's certificate with.
    type: path
  home_root:
    description: Where the tools' homes are (the shared storage).
    type: path
    default: /data/project
  archive_dir:
    description: Where removed tools' homes are archived (created root-only).
    type: path
    default: /srv/tool-archive
  reserved_names:
    description: Names that no tool may have.
    type: list
    elements: str
    default: [admin, root, tools, toolsbeta, www, mail, proxy, ldap, nfs, grid, home, public_html, static, shared]
  description_max_length:
    description: Longest accepted description, in characters.
    type: int
    default: 1000
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Create a tool, or bring its maintainers and description up to date
  tool_account:
    suffix: dc=toollabs
    bind_dn: cn=toollabs-admin,ou=services,dc=toollabs
    bind_password: "{{ toollabs_ldap_admin_password }}"
    ca_file: /etc/ssl/toollabs/ca.crt
    tools:
      - name: wikibugs
        maintainers: [alice, bob]
        description: Relays <b>bug reports</b> to IRC.

- name: Remove a tool (its home is archived first)
  tool_account:
    suffix: dc=toollabs
    bind_dn: cn=toollabs-admin,ou=services,dc=toollabs
    bind_password: "{{ toollabs_ldap_admin_password }}"
    ca_file: /etc/ssl/toollabs/ca.crt
    tools:
      - name: oldbot
        state: absent
"""

RETURN = r"""
tools:
  description: Each tool of the list after the run (in check mode, as it would be).
  returned: always
  type: dict
  sample:
    wikibugs:
      user: tools.wikibugs
      uid: 50004
      home: /data/project/wikibugs
      maintainers: [alice, bob]
      state: present
created:
  description: Names of the tools that were created.
  returned: always
  type: list
  elements: str
updated:
  description: Names of the existing tools whose maintainers, description or home changed.
  returned: always
  type: list
  elements: str
removed:
  description: Names of the tools that were removed.
  returned: always
  type: list
  elements: str
archives:
  description: Tarballs of the removed tools' homes.
  returned: always
  type: list
  elements: str
  sample: [/srv/tool-archive/oldbot-50002-20261204T221500.tar.gz]
"""

import os
import shutil
import stat
import tarfile
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.toollabs_ldap import (
    HAS_LDAP,
    LDAP_IMPORT_ERROR,
    TOOL_PREFIX,
    AccountError,
    add_entry,
    connect,
    entry_changes,
    layout,
    search,
    tool_name,
)

if HAS_LDAP:
    import ldap

HOME_MODE = 0o2775


class Directory:
    """The tools, people and uid counter as read from the directory, and the writes."""

    def __init__(self, conn, suffix):
        self.conn = conn
        self.dns = layout(suffix)
        self.users = search(conn, self.dns["tools"], "(objectClass=posixAccount)")
        self.groups = search(conn, self.dns["groups"], "(objectClass=posixGroup)")
        self.sudo = search(conn, self.dns["sudoers"], "(objectClass=sudoRole)", ["cn"])
        self.people = {
            attrs["uid"][0]
            for attrs in search(conn, self.dns["people"], "(objectClass=posixAccount)", ["uid"]).values()
        }

    def user_dn(self, user):
        return f"uid={user},{self.dns['tools']}"

    def group_dn(self, user):
        return f"cn={user},{self.dns['groups']}"

    def sudo_dn(self, user):
        return f"cn={user},{self.dns['sudoers']}"

    def tool(self, user):
        """(uid, maintainers) of an existing tool, or None."""
        entry = self.users.get(self.user_dn(user))
        if entry is None:
            return None
        group = self.groups.get(self.group_dn(user), {})
        return int(entry["uidNumber"][0]), sorted(group.get("memberUid", []))

    def allocate(self, count):
        """count fresh uids; moves the counter with a compare-and-swap (one modify)."""
        used = {int(attrs["uidNumber"][0]) for attrs in self.users.values()}
        for _attempt in range(5):
            entry = self.conn.search_s(self.dns["next_uid"], ldap.SCOPE_BASE, "(objectClass=*)", ["uidNumber"])
            current = int(entry[0][1]["uidNumber"][0])
            first = max([current] + [uid + 1 for uid in used])
            try:
                self.conn.modify_s(
                    self.dns["next_uid"],
                    [
                        (ldap.MOD_DELETE, "uidNumber", [str(current).encode()]),
                        (ldap.MOD_ADD, "uidNumber", [str(first + count).encode()]),
                    ],
                )
            except ldap.NO_SUCH_ATTRIBUTE:
                continue  # another run took uids meanwhile: read the counter again
            return list(range(first, first + count))
        raise AccountError("the uid counter kept changing under this run; try again")

    def peek(self, count):
        """The uids that allocate(count) would give (check mode)."""
        entry = self.conn.search_s(self.dns["next_uid"], ldap.SCOPE_BASE, "(objectClass=*)", ["uidNumber"])
        used = {int(attrs["uidNumber"][0]) for attrs in self.users.values()}
        first = max([int(entry[0][1]["uidNumber"][0])] + [uid + 1 for uid in used])
        return list(range(first, first + count))

    def wanted_entries(self, name, user, uid, home, maintainers):
        return [
            (
                self.group_dn(user),
                {"objectClass": ["top", "posixGroup"], "cn": [user], "gidNumber": [str(uid)],
                 "memberUid": list(maintainers)},
            ),
            (
                self.user_dn(user),
                {"objectClass": ["top", "account", "posixAccount"], "uid": [user], "cn": [user],
                 "uidNumber": [str(uid)], "gidNumber": [str(uid)], "homeDirectory": [home],
                 "loginShell": ["/bin/bash"], "gecos": [f"Tool account {name}"]},
            ),
            (
                self.sudo_dn(user),
                {"objectClass": ["top", "sudoRole"], "cn": [user], "sudoUser": [f"%{user}"], "sudoHost": ["ALL"],
                 "sudoRunAsUser": [user], "sudoCommand": ["ALL"], "sudoOption": ["!authenticate"]},
            ),
        ]


def _check_input(module, directory, home_root):
    """Normalised tools, or fail naming every problem. Reads only."""
    params = module.params
    reserved = set(params["reserved_names"])
    errors, tools, seen = [], [], set()
    for item in params["tools"]:
        try:
            name = tool_name(item["name"])
        except AccountError as exc:
            errors.append(str(exc))
            continue
        if name in seen:
            errors.append(f"tool '{name}' is listed twice")
            continue
        seen.add(name)
        user = TOOL_PREFIX + name
        existing = directory.tool(user)
        tool = dict(item, name=name, user=user, home=os.path.join(home_root, name), existing=existing)
        tools.append(tool)
        if item["state"] == "absent":
            continue
        if existing is None:
            if name in reserved:
                errors.append(f"'{name}' is a reserved name: choose another name for the tool")
            if name in directory.people:
                errors.append(f"'{name}' is taken by a person of the same name: choose another name for the tool")
            if directory.group_dn(user) in directory.groups:
                errors.append(f"'{name}' is taken: the group {user} exists without a tool account")
            if os.path.lexists(tool["home"]):
                errors.append(
                    f"'{name}' is taken: {tool['home']} exists but belongs to no tool; move it away or choose "
                    "another name"
                )
            if not item["maintainers"]:
                errors.append(f"tool '{name}' needs at least one maintainer to be created (maintainers=alice,bob)")
        unknown = sorted(set(item["maintainers"] or []) - directory.people)
        if unknown:
            errors.append(
                f"tool '{name}': unknown maintainer(s) {', '.join(unknown)}; maintainers must be people of the "
                "installation (the `people` list of the inventory)"
            )
        description = item["description"]
        if description is not None:
            if len(description) > params["description_max_length"]:
                errors.append(
                    f"tool '{name}': the description is {len(description)} characters long; shorten it to at most "
                    f"{params['description_max_length']} (about 25 words are plenty)"
                )
            if "\x00" in description:
                errors.append(f"tool '{name}': the description contains a NUL character")
    if errors:
        module.fail_json(msg="Nothing was changed: " + "; ".join(errors))
    return tools


def _write_file(path, content, uid, gid, mode):
    tmp = f"{path}.tool_account.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.write(fd, content.encode("utf-8"))
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _read_description(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _home_changes(tool, uid, check_mode):
    """Make the home right (owner, mode, public_html, .description); returns what changed."""
    home = tool["home"]
    changes = []
    try:
        st = os.lstat(home)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise AccountError(f"{home} is not a directory; move it away")
    if st is None:
        changes.append(f"create {home}")
        if not check_mode:
            os.mkdir(home, 0o700)
            os.chown(home, uid, uid)
            os.chmod(home, HOME_MODE)
    elif (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != (uid, uid, HOME_MODE):
        changes.append(f"set {home} to {uid}:{uid} mode 2775")
        if not check_mode:
            os.chown(home, uid, uid)
            os.chmod(home, HOME_MODE)
    public_html = os.path.join(home, "public_html")
    if not os.path.lexists(public_html):
        changes.append(f"create {public_html}")
        if not check_mode:
            os.mkdir(public_html, 0o700)
            os.chown(public_html, uid, uid)
            os.chmod(public_html, HOME_MODE)
    description_path = os.path.join(home, ".description")
    current = _read_description(description_path)
    wanted = tool["description"]
    if wanted is not None and not wanted.endswith("\n"):
        wanted += "\n"
    if (current is None and wanted is None) or (wanted is not None and current != wanted):
        changes.append(f"write {description_path}")
        if not check_mode:
            _write_file(description_path, wanted or "", uid, uid, 0o664)
    return changes


def _archive(tool, uid, archive_dir):
    os.makedirs(archive_dir, mode=0o700, exist_ok=True)
    os.chmod(archive_dir, 0o700)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    path = os.path.join(archive_dir, f"{tool['name']}-{uid}-{stamp}.tar.gz")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w:gz") as tar:
        tar.add(tool["home"], arcname=tool["name"])
    return path


def _delete_entries(conn, dns):
    for dn in dns:
        try:
            conn.delete_s(dn)
        except ldap.NO_SUCH_OBJECT:
            pass


def _exit_unprepared(module, reason):
    """Check mode on a host that a full run would first set up: every tool present would be made."""
    tools = {}
    for item in module.params["tools"]:
        try:
            name = tool_name(item["name"])
        except AccountError as exc:
            module.fail_json(msg=f"Nothing was changed: {exc}")
        tools[name] = {"user": TOOL_PREFIX + name, "home": os.path.join(module.params["home_root"], name),
                       "maintainers": sorted(set(item["maintainers"] or [])), "state": item["state"]}
    created = [name for name, tool in tools.items() if tool["state"] == "present"]
    module.warn(f"Check mode: {reason}, as on a host that is not set up; every listed tool would be created.")
    module.exit_json(changed=bool(created), created=created, updated=[], removed=[], archives=[], tools=tools)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            tools=dict(
                type="list",
                elements="dict",
                required=True,
                options=dict(
                    name=dict(type="str", required=True),
                    maintainers=dict(type="list", elements="str"),
                    description=dict(type="str"),
                    state=dict(type="str", choices=["present", "absent"], default="present"),
                ),
            ),
            suffix=dict(type="str", required=True),
            uri=dict(type="str", default="ldaps://tools-ldap"),
            bind_dn=dict(type="str"),
            bind_password=dict(type="str", no_log=True),
            ca_file=dict(type="path"),
            home_root=dict(type="path", default="/data/project"),
            archive_dir=dict(type="path", default="/srv/tool-archive"),
            reserved_names=dict(
                type="list",
                elements="str",
                default=["admin", "root", "tools", "toolsbeta", "www", "mail", "proxy", "ldap", "nfs", "grid",
                         "home", "public_html", "static", "shared"],
            ),
            description_max_length=dict(type="int", default=1000),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not HAS_LDAP:
        if module.check_mode:
            _exit_unprepared(module, "python3-ldap is not installed yet")
        module.fail_json(msg=missing_required_lib("python3-ldap (Debian package)"), exception=LDAP_IMPORT_ERROR)
    if not os.path.isdir(params["home_root"]):
        if module.check_mode:
            _exit_unprepared(module, f"{params['home_root']} does not exist yet")
        module.fail_json(msg=f"{params['home_root']} does not exist here: run tool_account on the storage server")

    if params["ca_file"] and not os.path.isfile(params["ca_file"]):
        if module.check_mode:
            _exit_unprepared(module, f"the CA certificate {params['ca_file']} is not there yet")
        module.fail_json(msg=f"The CA certificate {params['ca_file']} is missing: converge site.yml first "
                             "(role directory_client writes it)")
    try:
        conn = connect(params["uri"], params["bind_dn"], params["bind_password"], params["ca_file"])
        directory = Directory(conn, params["suffix"])
    except ldap.SERVER_DOWN as exc:
        if module.check_mode:
            _exit_unprepared(module, f"the directory at {params['uri']} does not answer yet ({exc})")
        module.fail_json(msg=f"Cannot reach the directory at {params['uri']}: {exc}")
    except ldap.LDAPError as exc:
        module.fail_json(msg=f"Cannot read the directory at {params['uri']}: {exc}")

    tools = _check_input(module, directory, params["home_root"])
    check = module.check_mode
    result = {"tools": {}, "created": [], "updated": [], "removed": [], "archives": []}
    before, after = [], []

    new = [t for t in tools if t["state"] == "present" and t["existing"] is None]
    try:
        uids = (directory.peek if check else directory.allocate)(len(new)) if new else []
    except (AccountError, ldap.LDAPError) as exc:
        module.fail_json(msg=f"Nothing was changed: cannot allocate uids: {exc}")
    for tool, uid in zip(new, uids):
        tool["uid"] = uid

    created_dns, created_homes = [], []
    try:
        for tool in tools:
            name, user = tool["name"], tool["user"]
            if tool["state"] == "absent":
                if tool["existing"] is None:
                    result["tools"][name] = {"user": user, "state": "absent"}
                    continue
                uid, maintainers = tool["existing"]
                before.append(f"{user} uid={uid} maintainers={','.join(maintainers)} home={tool['home']}\n")
                if not check:
                    if os.path.isdir(tool["home"]):
                        result["archives"].append(_archive(tool, uid, params["archive_dir"]))
                        shutil.rmtree(tool["home"])
                    _delete_entries(conn, [directory.sudo_dn(user), directory.user_dn(user), directory.group_dn(user)])
                result["removed"].append(name)
                result["tools"][name] = {"user": user, "uid": uid, "state": "absent"}
                continue

            if tool["existing"] is None:
                uid, maintainers = tool["uid"], sorted(set(tool["maintainers"]))
                for dn, attrs in directory.wanted_entries(name, user, uid, tool["home"], maintainers):
                    if not check:
                        add_entry(conn, dn, attrs)
                        created_dns.append(dn)
                if not check:
                    created_homes.append(tool["home"])
                _home_changes(tool, uid, check)
                after.append(f"{user} uid={uid} maintainers={','.join(maintainers)} home={tool['home']}\n")
                result["created"].append(name)
            else:
                uid, current_maintainers = tool["existing"]
                maintainers = sorted(set(tool["maintainers"])) if tool["maintainers"] is not None else current_maintainers
                changed = False
                for dn, attrs in directory.wanted_entries(name, user, uid, tool["home"], maintainers):
                    if dn == directory.sudo_dn(user):
                        if dn in directory.sudo:
                            continue  # the rule has no parameters: present is right
                        if not check:
                            add_entry(conn, dn, attrs)
                        changed = True
                        continue
                    changes = entry_changes(directory.groups.get(dn) or directory.users.get(dn), attrs)
                    if changes:
                        changed = True
                        if not check:
                            conn.modify_s(dn, changes)
                home_changes = _home_changes(tool, uid, check)
                if changed or home_changes:
                    before.append(f"{user} uid={uid} maintainers={','.join(current_maintainers)}\n")
                    after.append(
                        f"{user} uid={uid} maintainers={','.join(maintainers)}"
                        + "".join(f"\n  {change}" for change in home_changes) + "\n"
                    )
                    result["updated"].append(name)
            result["tools"][name] = {"user": user, "uid": uid, "home": tool["home"], "maintainers": maintainers,
                                     "state": "present"}
            created_dns, created_homes = [], []
    except (AccountError, ldap.LDAPError, OSError, tarfile.TarError) as exc:
        # Take back what this run created for the tool it was on; earlier tools stay.
        _delete_entries(conn, reversed(created_dns))
        for home in created_homes:
            shutil.rmtree(home, ignore_errors=True)
        module.fail_json(
            msg=f"Stopped at tool '{tool['name']}' and took back its half-made parts: {exc}",
            **result,
        )

    module.exit_json(
        changed=bool(result["created"] or result["updated"] or result["removed"]),
        diff={"before": "".join(before), "after": "".join(after)},
        **result,
    )


if __name__ == "__main__":
    main()
