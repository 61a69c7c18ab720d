"""Shared code of the account modules (toollabs_directory, tool_account).

The directory's layout (which entry lives where), the connection to slapd, reading
entries and turning a wanted entry into the LDAP modifications that reach it, the
password hashes of the bind accounts, and the names of tools.

Layout under the suffix (e.g. dc=toollabs):

    ou=people    uid=alice            a person: account + posixAccount + ldapPublicKey
    ou=tools     uid=tools.NAME       a tool's user: account + posixAccount
    ou=groups    cn=alice             a person's own group (gid == uid)
                 cn=tools.NAME        a tool's group; memberUid = its maintainers
    ou=sudoers   cn=tools.NAME        sudoRole: %tools.NAME ALL=(tools.NAME) NOPASSWD: ALL
    ou=services  cn=toollabs-admin    bind account of the modules (write)
                 cn=toollabs-reader   bind account of sssd (read)
    cn=next-tool-uid                  uidNumber: the next uid a new tool gets; it
                                      only ever grows, so a uid is never reused
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import traceback

try:
    import ldap
    import ldap.modlist  # noqa: F401  (imported for the caller's convenience)

    HAS_LDAP = True
    LDAP_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the host
    HAS_LDAP = False
    LDAP_IMPORT_ERROR = traceback.format_exc()

TOOL_PREFIX = "tools."
TOOL_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
PERSON_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
FIRST_TOOL_UID = 50000
TOOL_HOME_ROOT = "/data/project"
NEXT_UID_RDN = "cn=next-tool-uid"

# Multi-valued attributes whose order does not matter are compared as sets;
# objectClass names also ignore case.
CASE_INSENSITIVE_ATTRIBUTES = {"objectclass"}


class AccountError(Exception):
    """A problem with the input that the operator must fix; nothing was changed."""


def layout(suffix: str) -> dict:
    """The DNs of the directory's containers and special entries."""
    return {
        "people": f"ou=people,{suffix}",
        "tools": f"ou=tools,{suffix}",
        "groups": f"ou=groups,{suffix}",
        "sudoers": f"ou=sudoers,{suffix}",
        "services": f"ou=services,{suffix}",
        "next_uid": f"{NEXT_UID_RDN},{suffix}",
    }


def tool_name(name: str) -> str:
    """The bare name of a tool; one `tools.` prefix is accepted, never two."""
    if not isinstance(name, str) or not name:
        raise AccountError("a tool needs a name")
    bare = name[len(TOOL_PREFIX):] if name.startswith(TOOL_PREFIX) else name
    if bare.startswith(TOOL_PREFIX):
        raise AccountError(
            f"'{name}' has the '{TOOL_PREFIX}' prefix twice: give the name without it, e.g. '{bare[len(TOOL_PREFIX):]}'"
        )
    if not TOOL_NAME_RE.match(bare):
        raise AccountError(
            f"'{name}' is not a valid tool name: start with a lower-case letter, then use up to 31 "
            "lower-case letters, digits, '-' or '_'"
        )
    return bare


def tool_user(name: str) -> str:
    """The Unix user and group of a tool: tools.NAME."""
    return TOOL_PREFIX + tool_name(name)


def tool_db_user(uid: int) -> str:
    """The tool's database user on tools-db and the replicas: s<uid>."""
    return f"s{int(uid)}"


def connect(uri: str, bind_dn: str | None = None, bind_password: str | None = None, ca_file: str | None = None):
    """An LDAP connection, bound as bind_dn, or as the local root over ldapi:/// (SASL EXTERNAL)."""
    conn = ldap.initialize(uri)
    conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 10)
    conn.set_option(ldap.OPT_TIMEOUT, 60)
    if ca_file:
        conn.set_option(ldap.OPT_X_TLS_CACERTFILE, ca_file)
        conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
        conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
    if bind_dn:
        conn.simple_bind_s(bind_dn, bind_password or "")
    else:
        conn.sasl_non_interactive_bind_s("EXTERNAL")
    return conn


def decode_entry(attrs: dict) -> dict:
    """An entry's attributes as {name: [str, ...]} (python-ldap gives bytes)."""
    return {key: [value.decode("utf-8") for value in values] for key, values in attrs.items()}


def search(conn, base: str, filterstr: str = "(objectClass=*)", attrs: list | None = None, scope=None) -> dict:
    """{dn: attributes} of the entries one level below base; {} when base does not exist."""
    try:
        results = conn.search_s(base, ldap.SCOPE_ONELEVEL if scope is None else scope, filterstr, attrs)
    except ldap.NO_SUCH_OBJECT:
        return {}
    return {dn: decode_entry(entry) for dn, entry in results if dn}


def _normalised(attr: str, values: list) -> set:
    if attr.lower() in CASE_INSENSITIVE_ATTRIBUTES:
        return {value.lower() for value in values}
    return set(values)


def entry_changes(current: dict | None, wanted: dict) -> list:
    """The modifications (python-ldap modlist) that turn current into wanted.

    Only the attributes named in wanted are compared: an attribute mapped to []
    is removed, one that is not named is left alone.
    """
    current = {key.lower(): (key, values) for key, values in (current or {}).items()}
    changes = []
    for attr, values in wanted.items():
        _, have = current.get(attr.lower(), (attr, []))
        if _normalised(attr, have) == _normalised(attr, values):
            continue
        if values:
            changes.append((ldap.MOD_REPLACE, attr, [value.encode("utf-8") for value in values]))
        else:
            changes.append((ldap.MOD_DELETE, attr, None))
    return changes


def add_entry(conn, dn: str, attrs: dict) -> None:
    """Add an entry given as {name: [str, ...]} (empty attributes are left out)."""
    conn.add_s(dn, [(key, [value.encode("utf-8") for value in values]) for key, values in attrs.items() if values])


def entry_text(dn: str, attrs: dict | None) -> str:
    """An entry as LDIF-like text, for diffs (never give it a password)."""
    if attrs is None:
        return ""
    lines = [f"dn: {dn}"]
    for key in sorted(attrs, key=str.lower):
        lines.extend(f"{key}: {value}" for value in sorted(attrs[key]))
    return "\n".join(lines) + "\n"


def ssha_hash(password: str, salt: bytes | None = None) -> str:
    """An RFC 2307 {SSHA} hash, which slapd checks natively."""
    salt = os.urandom(8) if salt is None else salt
    digest = hashlib.sha1(password.encode("utf-8") + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


def ssha_matches(hashed: str, password: str) -> bool:
    """Whether an {SSHA} hash is that of password (any other scheme: no)."""
    if not hashed.startswith("{SSHA}"):
        return False
    try:
        raw = base64.b64decode(hashed[len("{SSHA}"):], validate=True)
    except ValueError:
        return False
    if len(raw) <= 20:
        return False
    return hmac.compare_digest(ssha_hash(password, raw[20:]), hashed)
