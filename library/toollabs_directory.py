#!/usr/bin/python
"""The account directory's skeleton, its bind accounts and the people, in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: toollabs_directory
short_description: Keep the people, the bind accounts and the skeleton of the Tool Labs directory
description:
  - Makes the LDAP directory hold the containers of the Tool Labs layout
    (C(ou=people), C(ou=tools), C(ou=groups), C(ou=sudoers), C(ou=services)),
    the tool uid counter, the bind accounts with their passwords, and exactly the
    listed people, each with a personal group, a shell and SSH public keys.
  - Runs on the directory host and connects as root over C(ldapi:///) with SASL
    EXTERNAL unless O(bind_dn) is given.
  - Everything is read with a few searches and only the differences are written,
    so a run with nothing to do makes no change.
  - People in the directory that are not listed are left alone unless listed with
    O(people[].state=absent); their home directories are not touched (they live on
    the shared storage and are archived by hand).
  - Tools are managed by M(tool_account).
version_added: "1.0.0"
author: Tool Labs project
requirements:
  - python3-ldap on the host that runs the module
options:
  suffix:
    description: The directory's base DN.
    type: str
    required: true
  uri:
    description: The directory's address.
    type: str
    default: ldapi:///
  bind_dn:
    description: DN to bind as; empty for SASL EXTERNAL over ldapi (root on the directory host).
    type: str
  bind_password:
    description: Password of O(bind_dn).
    type: str
  ca_file:
    description: CA certificate to check the server's certificate with (ldaps).
    type: path
  first_tool_uid:
    description: The uid of the first tool, used when the counter does not exist yet.
    type: int
    default: 50000
  bind_accounts:
    description:
      - Accounts under C(ou=services) that programs bind as. The password is
        stored as a salted SHA-1 hash ({SSHA}) and only rewritten when it no
        longer matches.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The account's cn.
        type: str
        required: true
      password:
        description: Its password.
        type: str
        required: true
  people:
    description: The people of the installation (operators and tool developers).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Login name; a lower-case letter, then up to 31 lower-case letters, digits, '-' or '_'.
        type: str
        required: true
      uid:
        description: uid and gid of the person and their personal group; below O(first_tool_uid).
        type: int
      comment:
        description: Full name (gecos); ASCII.
        type: str
        default: ""
      shell:
        description: Login shell.
        type: str
        default: /bin/bash
      ssh_keys:
        description: The person's SSH public keys, one per element.
        type: list
        elements: str
        default: []
      admin:
        description:
          - Not stored in the directory (role common gives operators sudo on
            each host); accepted so that an inventory's people list can be passed
            as it is.
        type: bool
        default: false
      state:
        description: V(absent) removes the person and their personal group.
        type: str
        choices: [present, absent]
        default: present
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Write the directory's skeleton, bind accounts and people
  toollabs_directory:
    suffix: dc=toollabs
    bind_accounts:
      - name: toollabs-reader
        password: "{{ toollabs_ldap_reader_password }}"
    people:
      - name: alice
        uid: 2001
        comment: Alice
        ssh_keys:
          - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... alice@laptop
      - name: mallory
        state: absent
"""

RETURN = r"""
changed_dns:
  description: DNs that were (or, in check mode, would be) added, changed or removed.
  returned: always
  type: list
  elements: str
  sample: ["uid=alice,ou=people,dc=toollabs"]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.toollabs_ldap import (
    HAS_LDAP,
    LDAP_IMPORT_ERROR,
    PERSON_NAME_RE,
    TOOL_PREFIX,
    add_entry,
    connect,
    decode_entry,
    entry_changes,
    entry_text,
    layout,
    search,
    ssha_hash,
    ssha_matches,
)

if HAS_LDAP:
    import ldap


def _person_errors(people: list, first_tool_uid: int) -> list:
    errors = []
    seen_names, seen_uids = set(), {}
    for person in people:
        name = person["name"]
        if not PERSON_NAME_RE.match(name) or name.startswith(TOOL_PREFIX):
            errors.append(
                f"person '{name}': not a valid login name (a lower-case letter, then up to 31 lower-case letters, "
                "digits, '-' or '_')"
            )
        if name in seen_names:
            errors.append(f"person '{name}' is listed twice")
        seen_names.add(name)
        if person["state"] == "absent":
            continue
        uid = person.get("uid")
        if uid is None or not 1000 <= uid < first_tool_uid:
            errors.append(f"person '{name}': uid must be a number from 1000 to {first_tool_uid - 1}, not {uid}")
        elif uid in seen_uids:
            errors.append(f"person '{name}': uid {uid} is also {seen_uids[uid]}'s")
        else:
            seen_uids[uid] = name
        if not (person["comment"] or "").isascii():
            errors.append(f"person '{name}': comment must be ASCII (it becomes the gecos field)")
        for key in person["ssh_keys"]:
            if "\n" in key.strip() or len(key.split()) < 2:
                errors.append(f"person '{name}': '{key[:40]}...' is not one SSH public key line")
    return errors


def main():
    module = AnsibleModule(
        argument_spec=dict(
            suffix=dict(type="str", required=True),
            uri=dict(type="str", default="ldapi:///"),
            bind_dn=dict(type="str"),
            bind_password=dict(type="str", no_log=True),
            ca_file=dict(type="path"),
            first_tool_uid=dict(type="int", default=50000),
            bind_accounts=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    name=dict(type="str", required=True),
                    password=dict(type="str", required=True, no_log=True),
                ),
            ),
            people=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    name=dict(type="str", required=True),
                    uid=dict(type="int"),
                    comment=dict(type="str", default=""),
                    shell=dict(type="str", default="/bin/bash"),
                    ssh_keys=dict(type="list", elements="str", default=[], no_log=False),
                    admin=dict(type="bool", default=False),
                    state=dict(type="str", choices=["present", "absent"], default="present"),
                ),
            ),
        ),
        supports_check_mode=True,
    )
    if not HAS_LDAP:
        module.fail_json(msg=missing_required_lib("python3-ldap (Debian package)"), exception=LDAP_IMPORT_ERROR)

    params = module.params
    suffix = params["suffix"]
    dns = layout(suffix)
    errors = _person_errors(params["people"], params["first_tool_uid"])
    if errors:
        module.fail_json(msg="The people list needs fixing (nothing was changed): " + "; ".join(errors))

    try:
        conn = connect(params["uri"], params["bind_dn"], params["bind_password"], params["ca_file"])
    except ldap.LDAPError as exc:
        module.fail_json(msg=f"Cannot connect to the directory at {params['uri']}: {exc}")

    # What is there: everything the module manages, in a handful of searches.
    try:
        base = conn.search_s(suffix, ldap.SCOPE_BASE, "(objectClass=*)")
    except ldap.NO_SUCH_OBJECT:
        base = []
    existing = {}
    if base:
        existing[suffix] = decode_entry(base[0][1])
        existing.update(search(conn, suffix))
        for key in ("people", "groups", "services"):
            existing.update(search(conn, dns[key]))

    # What should be there, in order (parents first).
    dc = suffix.split(",")[0].split("=", 1)[1]
    wanted = [(suffix, {"objectClass": ["top", "dcObject", "organization"], "dc": [dc], "o": ["Tool Labs"]}, True)]
    for key in ("people", "tools", "groups", "sudoers", "services"):
        wanted.append((dns[key], {"objectClass": ["top", "organizationalUnit"], "ou": [key]}, True))
    # The counter is only created, never rewritten here (tool_account moves it on).
    wanted.append(
        (
            dns["next_uid"],
            {
                "objectClass": ["top", "applicationProcess", "extensibleObject"],
                "cn": ["next-tool-uid"],
                "uidNumber": [str(params["first_tool_uid"])],
            },
            False,
        )
    )
    passwords = {}
    for account in params["bind_accounts"]:
        dn = f"cn={account['name']},{dns['services']}"
        attrs = {"objectClass": ["top", "applicationProcess", "simpleSecurityObject"], "cn": [account["name"]]}
        current_hash = (existing.get(dn, {}).get("userPassword") or [""])[0]
        if not ssha_matches(current_hash, account["password"]):
            attrs["userPassword"] = [ssha_hash(account["password"])]
            passwords[dn] = True
        wanted.append((dn, attrs, True))
    removals = []
    for person in params["people"]:
        user_dn = f"uid={person['name']},{dns['people']}"
        group_dn = f"cn={person['name']},{dns['groups']}"
        if person["state"] == "absent":
            removals.extend(dn for dn in (user_dn, group_dn) if dn in existing)
            continue
        uid = str(person["uid"])
        wanted.append(
            (
                user_dn,
                {
                    "objectClass": ["top", "account", "posixAccount", "ldapPublicKey"],
                    "uid": [person["name"]],
                    "cn": [person["name"]],
                    "uidNumber": [uid],
                    "gidNumber": [uid],
                    "homeDirectory": [f"/home/{person['name']}"],
                    "loginShell": [person["shell"]],
                    "gecos": [person["comment"]] if person["comment"] else [],
                    "sshPublicKey": [key.strip() for key in person["ssh_keys"]],
                },
                True,
            )
        )
        wanted.append(
            (group_dn, {"objectClass": ["top", "posixGroup"], "cn": [person["name"]], "gidNumber": [uid]}, True)
        )

    changed_dns, before, after = [], [], []
    try:
        for dn, attrs, update in wanted:
            current = existing.get(dn)
            if current is None:
                changed_dns.append(dn)
                after.append(entry_text(dn, {k: v for k, v in attrs.items() if k != "userPassword"}))
                if not module.check_mode:
                    add_entry(conn, dn, attrs)
                continue
            if not update:
                continue
            changes = entry_changes(current, attrs)
            if not changes:
                continue
            changed_dns.append(dn)
            shown = [name for _, name, _ in changes if name != "userPassword"]
            before.append(entry_text(dn, {k: v for k, v in current.items() if k in shown}))
            after.append(entry_text(dn, {k: v for k, v in attrs.items() if k in shown}))
            if dn in passwords:
                after.append(f"dn: {dn}\nuserPassword: (changed)\n")
            if not module.check_mode:
                conn.modify_s(dn, changes)
        for dn in removals:
            changed_dns.append(dn)
            before.append(entry_text(dn, existing[dn]))
            if not module.check_mode:
                conn.delete_s(dn)
    except ldap.LDAPError as exc:
        module.fail_json(msg=f"The directory refused a change: {exc}", changed_dns=changed_dns)

    module.exit_json(
        changed=bool(changed_dns),
        changed_dns=changed_dns,
        diff={"before": "\n".join(before), "after": "\n".join(after)},
    )


if __name__ == "__main__":
    main()
