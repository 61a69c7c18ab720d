"""become NAME [COMMAND...]: act as a tool you maintain (BEHAVIOR.md).

Fails with "no such tool" when the tool's account or home is missing, and with
"not a member of the group tools.NAME" when the caller does not maintain it;
otherwise runs `sudo -niu tools.NAME [COMMAND...]`, which the sudo rule
`%tools.NAME ALL=(tools.NAME) NOPASSWD: ALL` allows.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from toollabs.names import InvalidToolName, tool_home, tool_name, tool_user

USAGE = "usage: become TOOL [COMMAND [ARG...]]"


def check(name: str, groups: Sequence[int], isdir: Callable[[str], bool] = os.path.isdir) -> tuple[int, str]:
    """(exit code, message) for `become name` by a caller in `groups`; (0, user) if allowed."""
    try:
        user = tool_user(name)
        home = tool_home(name)
    except InvalidToolName:
        return 1, f"become: no such tool '{name}'"
    try:
        pwd.getpwnam(user)
        group = grp.getgrnam(user)
    except KeyError:
        return 1, f"become: no such tool '{tool_name(name)}'"
    if not isdir(home):
        return 1, f"become: no such tool '{tool_name(name)}'"
    if group.gr_gid not in groups:
        return 1, (
            f"become: You are not a member of the group {user}.\n"
            "Any existing member of the tool's group can add you to that."
        )
    return 0, user


# A tool created a moment ago is known at once (its group and home), but each
# host's sssd learns new sudo rules every few seconds (directory_client role):
# wait that long rather than fail with sudo's "a password is required".
SUDO_RULE_WAIT = 10.0


def wait_for_sudo_rule(user: str, timeout: float = SUDO_RULE_WAIT,
                       probe: Callable[[str], bool] | None = None,
                       sleep: Callable[[float], None] = time.sleep,
                       clock: Callable[[], float] = time.monotonic) -> bool:
    """Whether sudo lets the caller act as `user`, waiting up to `timeout` seconds for the rule."""
    if probe is None:
        def probe(name: str) -> bool:
            return subprocess.run(["sudo", "-n", "-u", name, "true"], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    deadline = clock() + timeout
    told = False
    while not probe(user):
        if clock() >= deadline:
            return False
        if not told:
            print(f"become: {user} is new here; waiting a few seconds for its sudo rule...", file=sys.stderr)
            told = True
        sleep(0.5)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not args else sys.stdout)
        return 0 if args else 1
    code, result = check(args[0], os.getgroups())
    if code:
        print(result, file=sys.stderr)
        return code
    wait_for_sudo_rule(result)  # if it never comes, sudo below says why
    os.execvp("sudo", ["sudo", "-niu", result, *args[1:]])
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
