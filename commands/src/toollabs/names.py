"""Tool names and the accounts, groups and paths derived from them (BEHAVIOR.md)."""

from __future__ import annotations

import re

PREFIX = "tools."
HOME_ROOT = "/data/project"
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class InvalidToolName(ValueError):
    """A tool name that does not follow ^[a-z][a-z0-9_-]{0,31}$."""


def tool_name(name: str) -> str:
    """The bare tool name, accepting one `tools.` prefix (never two)."""
    bare = name[len(PREFIX):] if name.startswith(PREFIX) else name
    if not NAME_RE.match(bare):
        raise InvalidToolName(
            f"'{name}' is not a tool name: use a lower-case letter, then up to 31 lower-case "
            "letters, digits, '-' or '_'"
        )
    return bare


def tool_user(name: str) -> str:
    """The Unix user (and group) of a tool: tools.NAME."""
    return PREFIX + tool_name(name)


def tool_home(name: str) -> str:
    """The tool's home directory on the shared storage."""
    return f"{HOME_ROOT}/{tool_name(name)}"
