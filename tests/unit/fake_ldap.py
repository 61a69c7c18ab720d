"""An in-memory stand-in for python-ldap, for the account modules' unit tests.

Only what the modules use: one-level and base searches with simple equality or
presence filters, add, modify (add/delete/replace, with slapd's errors for a
value that is not there) and delete. The real slapd is exercised by the cluster
tests (molecule/default/tests/test_accounts.py); these tests check the modules'
own logic (names, uid allocation, maintainer sync, check mode, diff, rollback)
without a server.
"""

from __future__ import annotations

import re
import sys
import types

SCOPE_BASE, SCOPE_ONELEVEL, SCOPE_SUBTREE = 0, 1, 2
MOD_ADD, MOD_DELETE, MOD_REPLACE = 0, 1, 2
OPT_PROTOCOL_VERSION = OPT_NETWORK_TIMEOUT = OPT_TIMEOUT = 0
OPT_X_TLS_CACERTFILE = OPT_X_TLS_REQUIRE_CERT = OPT_X_TLS_DEMAND = OPT_X_TLS_NEWCTX = 0


class LDAPError(Exception):
    pass


class NO_SUCH_OBJECT(LDAPError):  # noqa: N801 - python-ldap's names
    pass


class ALREADY_EXISTS(LDAPError):  # noqa: N801
    pass


class NO_SUCH_ATTRIBUTE(LDAPError):  # noqa: N801
    pass


class SERVER_DOWN(LDAPError):  # noqa: N801
    pass


class Directory:
    """The server's data: {dn: {attr: [bytes]}}; fail_on lets a test break one write."""

    def __init__(self):
        self.entries: dict[str, dict[str, list[bytes]]] = {}
        self.fail_on: dict[tuple[str, str], Exception] = {}
        self.writes = 0

    def check_failure(self, operation: str, dn: str):
        error = self.fail_on.get((operation, dn))
        if error is not None:
            raise error


SERVER = Directory()


def _parent(dn: str) -> str:
    return dn.split(",", 1)[1] if "," in dn else ""


def _matches(entry: dict, filterstr: str) -> bool:
    match = re.fullmatch(r"\((\w+)=([^)]*)\)", filterstr)
    if not match:
        raise LDAPError(f"fake_ldap cannot evaluate filter {filterstr}")
    attr, value = match.group(1).lower(), match.group(2)
    values = next((v for k, v in entry.items() if k.lower() == attr), None)
    if values is None:
        return False
    if value == "*":
        return True
    return value.lower().encode() in [v.lower() for v in values]


class Connection:
    def __init__(self, uri: str):
        self.uri = uri

    def set_option(self, option, value):
        pass

    def simple_bind_s(self, who, password):
        if SERVER.fail_on.get(("bind", who)):
            raise SERVER.fail_on[("bind", who)]

    def sasl_non_interactive_bind_s(self, mechanism):
        pass

    def search_s(self, base, scope, filterstr="(objectClass=*)", attrlist=None):
        if base not in SERVER.entries:
            raise NO_SUCH_OBJECT({"desc": "No such object"})
        if scope == SCOPE_BASE:
            candidates = [base]
        else:
            candidates = [dn for dn in SERVER.entries if _parent(dn) == base]
        results = []
        for dn in candidates:
            entry = SERVER.entries[dn]
            if not _matches(entry, filterstr):
                continue
            if attrlist:
                wanted = {a.lower() for a in attrlist}
                entry = {k: v for k, v in entry.items() if k.lower() in wanted}
            results.append((dn, {k: list(v) for k, v in entry.items()}))
        return results

    def add_s(self, dn, modlist):
        SERVER.check_failure("add", dn)
        if dn in SERVER.entries:
            raise ALREADY_EXISTS({"desc": "Already exists", "dn": dn})
        if _parent(dn) and _parent(dn) not in SERVER.entries and "," in _parent(dn):
            raise NO_SUCH_OBJECT({"desc": "No such object", "dn": _parent(dn)})
        SERVER.entries[dn] = {attr: list(values) for attr, values in modlist}
        SERVER.writes += 1

    def modify_s(self, dn, modlist):
        SERVER.check_failure("modify", dn)
        if dn not in SERVER.entries:
            raise NO_SUCH_OBJECT({"desc": "No such object", "dn": dn})
        entry = {k: list(v) for k, v in SERVER.entries[dn].items()}
        for operation, attr, values in modlist:
            key = next((k for k in entry if k.lower() == attr.lower()), attr)
            if operation == MOD_REPLACE:
                entry[key] = list(values)
            elif operation == MOD_ADD:
                entry.setdefault(key, []).extend(values)
            elif operation == MOD_DELETE:
                if values is None:
                    entry.pop(key, None)
                    continue
                for value in values:
                    if value not in entry.get(key, []):
                        raise NO_SUCH_ATTRIBUTE({"desc": "No such attribute", "dn": dn})
                    entry[key].remove(value)
        SERVER.entries[dn] = entry
        SERVER.writes += 1

    def delete_s(self, dn):
        SERVER.check_failure("delete", dn)
        if dn not in SERVER.entries:
            raise NO_SUCH_OBJECT({"desc": "No such object", "dn": dn})
        del SERVER.entries[dn]
        SERVER.writes += 1


def initialize(uri):
    return Connection(uri)


def install():
    """Make `import ldap` and `import ldap.modlist` give this module."""
    module = sys.modules[__name__]
    sys.modules["ldap"] = module
    sys.modules["ldap.modlist"] = types.ModuleType("ldap.modlist")
    module.modlist = sys.modules["ldap.modlist"]
    return module
