"""Filters for this project's roles and playbooks.

Small pure functions; bad input raises AnsibleFilterError with a message that
says what to fix. Unit-tested in tests/unit/test_filters.py.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import ipaddress
import struct
from pathlib import Path

from ansible.errors import AnsibleFilterError


def _load_accounts_rules():
    """module_utils/toollabs_ldap.py, the one place where tool names are defined.

    Modules get it through Ansible's module_utils mechanism; a controller plugin
    cannot, so it is loaded from its path beside this directory.
    """
    path = Path(__file__).resolve().parent.parent / "module_utils" / "toollabs_ldap.py"
    spec = importlib.util.spec_from_file_location("toollabs_ldap_rules", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_accounts = _load_accounts_rules()

# Key types that OpenSSH 9 (Debian 12) accepts in authorized_keys.
SSH_KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)


def ssh_public_key_error(key: object) -> str:
    """Return why `key` is not one valid OpenSSH public key line, or '' if it is.

    Checks the form `TYPE BASE64 [COMMENT]`, that the base64 decodes, and that
    the key type embedded in the blob matches the one written in front of it
    (which catches a truncated or pasted-together key).
    """
    if not isinstance(key, str):
        return f"it is a {type(key).__name__}, not a string"
    if "\n" in key.strip():
        return "it spans several lines; give each key as its own list item"
    parts = key.strip().split(None, 2)
    if len(parts) < 2:
        return "it should look like 'ssh-ed25519 AAAA... comment'"
    ktype, blob = parts[0], parts[1]
    if ktype not in SSH_KEY_TYPES:
        return f"unknown key type '{ktype}' (expected one of {', '.join(sorted(SSH_KEY_TYPES))})"
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return "its key data is not valid base64 (was it cut or wrapped?)"
    if len(raw) < 4:
        return "its key data is too short"
    (length,) = struct.unpack(">I", raw[:4])
    embedded = raw[4 : 4 + length].decode("ascii", errors="replace")
    if embedded != ktype:
        return f"its key data is a '{embedded}' key but the line says '{ktype}'"
    return ""


def ssh_public_key_valid(key: object) -> bool:
    """True if `key` is one valid OpenSSH public key line."""
    return ssh_public_key_error(key) == ""


def ipv4_in_network(address: object, network: object) -> bool:
    """True if IPv4 `address` lies in `network` (CIDR). Errors name the bad value."""
    try:
        net = ipaddress.IPv4Network(str(network), strict=False)
    except ValueError as exc:
        raise AnsibleFilterError(f"'{network}' is not an IPv4 network in CIDR form (e.g. 172.30.0.0/24): {exc}")
    try:
        addr = ipaddress.IPv4Address(str(address))
    except ValueError as exc:
        raise AnsibleFilterError(f"'{address}' is not an IPv4 address: {exc}")
    return addr in net


CONTAINER_TYPES = ("docker", "container", "podman", "lxc")


def is_container_guest(facts: object) -> bool:
    """True if a host's facts (at least the `virtual` subset) say it is a container.

    The lab's and molecule's hosts are: some settings of real machines (clock,
    hostname, hardened units that need user namespaces) do not apply there.
    """
    if not isinstance(facts, dict):
        return False
    return facts.get("virtualization_type", "") in CONTAINER_TYPES and facts.get("virtualization_role", "") == "guest"


def is_ipv4_network(value: object) -> bool:
    """True if `value` is an IPv4 network in CIDR form."""
    try:
        ipaddress.IPv4Network(str(value), strict=False)
    except ValueError:
        return False
    return "/" in str(value)


def is_ipv4_address(value: object) -> bool:
    """True if `value` is a dotted IPv4 address."""
    try:
        ipaddress.IPv4Address(str(value))
    except ValueError:
        return False
    return True


def hosts_entries(hostvars: dict, hosts: list, aliases: dict, groups: dict) -> list:
    """Lines for /etc/hosts: each host's address, name and service aliases.

    `aliases` maps an alias to the inventory group whose first host carries it
    (for example {'tools-db': 'tools_db'}); aliases of empty or missing groups
    are skipped. Returns a sorted list of 'ADDRESS NAME [ALIAS ...]'.
    """
    by_host: dict = {h: [] for h in hosts}
    for alias, group in sorted(aliases.items()):
        members = groups.get(group) or []
        if members and members[0] in by_host:
            by_host[members[0]].append(alias)
    lines = []
    for host in hosts:
        addr = hostvars[host].get("ip_address")
        if not addr:
            raise AnsibleFilterError(f"host '{host}' has no ip_address: set it in the inventory's hosts.yml")
        if not is_ipv4_address(addr):
            raise AnsibleFilterError(f"host '{host}' has ip_address '{addr}', which is not an IPv4 address")
        lines.append((ipaddress.IPv4Address(addr), " ".join([str(addr), host] + by_host[host])))
    return [line for _, line in sorted(lines)]


def toollabs_lab_volume(export: dict, prefix: str, is_server: bool) -> str:
    """The Docker volume spec that stands in for one NFS export in the lab.

    The storage server mounts every volume read-write; clients get read-only
    exports read-only, as they would over NFS.
    """
    try:
        path = export["path"]
    except (KeyError, TypeError):
        raise AnsibleFilterError(f"shared-storage export {export!r} has no 'path'")
    if not str(path).startswith("/"):
        raise AnsibleFilterError(f"shared-storage export path '{path}' must be absolute")
    spec = f"{prefix}{path.replace('/', '-')}:{path}"
    if export.get("access", "rw") == "ro" and not is_server:
        spec += ":ro"
    return spec


def people_with_state(people: list, state: str) -> list:
    """The entries of `people` whose state ('present' unless set) is `state`."""
    if state not in ("present", "absent"):
        raise AnsibleFilterError(f"people_with_state: state must be 'present' or 'absent', not '{state}'")
    return [p for p in people or [] if (p.get("state") or "present") == state]


def missing_packages(packages: list, installed: object) -> list:
    """The packages of `packages` that `installed` does not list.

    `installed` is site.yml's registered `toollabs_installed_packages` (its
    stdout_lines name the installed packages). If it is undefined or not such a
    result, every package counts as missing, so apt runs: the safe side.
    """
    try:
        names = set(installed["stdout_lines"])  # type: ignore[index]
    except (KeyError, TypeError):
        return list(packages)
    return [p for p in packages if p not in names]


def toollabs_commands_files(sources: list, contents: list, pkgdir: str, commands: list, python: str,
                            bindir: str) -> list:
    """toollabs_files entries that install the user commands' package.

    `sources` are the package's module paths on the controller and `contents`
    their texts (same order); each goes to `pkgdir`/<basename>, root-owned 0644.
    Each command gets an executable wrapper in `bindir` that runs
    toollabs.<command>.main with `python -I` (no user site, no PYTHON* variables).
    """
    if len(sources) != len(contents):
        raise AnsibleFilterError("toollabs_commands_files: sources and contents differ in length")
    if not sources:
        raise AnsibleFilterError("toollabs_commands_files: no package modules found (is commands/src/toollabs there?)")
    files = [
        {"path": f"{pkgdir.rstrip('/')}/{src.rsplit('/', 1)[-1]}", "content": text, "mode": "0644"}
        for src, text in zip(sources, contents)
    ]
    modules = {src.rsplit("/", 1)[-1][:-3] for src in sources}
    for command in commands:
        if command not in modules:
            raise AnsibleFilterError(f"toollabs_commands_files: no module toollabs/{command}.py for command '{command}'")
        files.append({
            "path": f"{bindir.rstrip('/')}/{command}",
            "mode": "0755",
            "content": (
                f"#!{python} -I\n"
                "# Managed by Ansible (role toollabs_commands).\n"
                "import sys\n"
                f"from toollabs.{command} import main\n"
                "sys.exit(main())\n"
            ),
        })
    return files


def _tool_filter(function):
    def wrapper(value):
        try:
            return function(value)
        except _accounts.AccountError as exc:
            raise AnsibleFilterError(str(exc)) from exc

    wrapper.__doc__ = function.__doc__
    return wrapper


def tool_db_user(uid: object) -> str:
    """The database user of the tool with this uid: s<uid> (tools-db, replicas)."""
    try:
        number = int(uid)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"tool_db_user: '{uid}' is not a uid")
    if number < _accounts.FIRST_TOOL_UID:
        raise AnsibleFilterError(f"tool_db_user: uid {number} is not a tool's (tools start at {_accounts.FIRST_TOOL_UID})")
    return _accounts.tool_db_user(number)


def tool_list(value: object) -> list:
    """Names from a comma-separated string (-e maintainers=alice,bob) or a list."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(item).strip() for item in items if str(item).strip()]


class FilterModule:
    """Tool Labs filters."""

    def filters(self):
        return {
            "ssh_public_key_error": ssh_public_key_error,
            "ipv4_in_network": ipv4_in_network,
            "hosts_entries": hosts_entries,
            "toollabs_lab_volume": toollabs_lab_volume,
            "missing_packages": missing_packages,
            "people_with_state": people_with_state,
            "toollabs_commands_files": toollabs_commands_files,
            "tool_name": _tool_filter(_accounts.tool_name),
            "tool_user": _tool_filter(_accounts.tool_user),
            "tool_db_user": tool_db_user,
            "tool_list": tool_list,
        }
