"""take FILE...: make files that a maintainer copied into a tool's home the tool's.

Run as the tool (after `become`), `take` changes the owner of each FILE, and of
everything under a directory, to the caller; the group is left alone. Changing
an owner needs root, so `take` runs its privileged half, `take-helper`, through
a sudo rule that allows exactly that program (sudo logs every use). The helper
trusts nothing but SUDO_UID and works on file descriptors only, so that a file
swapped for a symlink between a check and the chown cannot redirect it:

* a symbolic link is refused (opened with O_NOFOLLOW; links met while walking a
  directory are left as they are);
* a file with other hard links is refused (its other names could be anywhere);
* the caller must own the directory that holds the file, and share a group with
  the file;
* only regular files and directories are taken.

The exit status is 0 only if every argument was taken completely.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
import sys
from collections.abc import Iterable, Sequence

HELPER = "/usr/lib/toollabs/take-helper"
USAGE = "usage: take FILE..."

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def _refusal(st: os.stat_result, uid: int, gids: frozenset[int], dir_uid: int) -> str | None:
    """Why the entry with `st`, in a directory owned by `dir_uid`, may not be taken."""
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link; take does not follow links"
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        return "is neither a regular file nor a directory"
    if dir_uid != uid:
        return "you do not own the directory it is in"
    if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
        return "has other hard links; copy it instead"
    if st.st_gid not in gids:
        return "you share no group with it"
    return None


def _take_tree(fd: int, shown: str, uid: int, gids: frozenset[int], errors: list[str]) -> None:
    """Take everything below the directory open as `fd` (already owned by uid)."""
    for name in sorted(os.listdir(fd)):
        path = f"{shown}/{name}"
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            why = _refusal(st, uid, gids, os.fstat(fd).st_uid)
            if why:
                if not stat.S_ISLNK(st.st_mode):
                    errors.append(f"take: {path}: {why}")
                continue
            child = os.open(name, _OPEN_FLAGS, dir_fd=fd)
        except OSError as exc:
            errors.append(f"take: {path}: {exc.strerror}")
            continue
        try:
            st = os.fstat(child)  # the object we opened, not the name we looked at
            why = _refusal(st, uid, gids, os.fstat(fd).st_uid)
            if why:
                errors.append(f"take: {path}: {why}")
                continue
            os.fchown(child, uid, -1)
            if stat.S_ISDIR(st.st_mode):
                _take_tree(child, path, uid, gids, errors)
        finally:
            os.close(child)


def take(path: str, uid: int, gids: Iterable[int]) -> list[str]:
    """Give `path` (recursively) to `uid`; return the messages of what was refused."""
    groups = frozenset(gids)
    parent, base = os.path.split(path.rstrip("/") or "/")
    if base in ("", ".", ".."):
        return [f"take: {path}: name a file or directory, not '.', '..' or '/'"]
    try:
        dir_fd = os.open(parent or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        return [f"take: {path}: {exc.strerror}"]
    try:
        try:
            fd = os.open(base, _OPEN_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):
                return [f"take: {path}: is a symbolic link; take does not follow links"]
            return [f"take: {path}: {exc.strerror}"]
        try:
            st = os.fstat(fd)
            why = _refusal(st, uid, groups, os.fstat(dir_fd).st_uid)
            if why:
                return [f"take: {path}: {why}"]
            os.fchown(fd, uid, -1)
            errors: list[str] = []
            if stat.S_ISDIR(st.st_mode):
                _take_tree(fd, path.rstrip("/"), uid, groups, errors)
            return errors
        finally:
            os.close(fd)
    finally:
        os.close(dir_fd)


def helper_main(argv: Sequence[str], environ: dict[str, str] | None = None) -> int:
    """The privileged half, run as root through sudo: take the files for SUDO_UID."""
    env = os.environ if environ is None else environ
    if os.geteuid() != 0 or "SUDO_UID" not in env:
        print("take-helper: run it through take (it needs sudo)", file=sys.stderr)
        return 2
    uid = int(env["SUDO_UID"])
    user = pwd.getpwuid(uid)
    gids = os.getgrouplist(user.pw_name, user.pw_gid)
    failed = False
    paths = list(argv)
    if paths[:1] == ["--"]:
        paths = paths[1:]
    for path in paths:
        for message in take(path, uid, gids):
            print(message, file=sys.stderr)
            failed = True
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(USAGE, file=sys.stderr)
        return 1
    if args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    os.execv("/usr/bin/sudo", ["sudo", "-n", HELPER, "--", *args])
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
