"""crontab: Debian's crontab, with every job sent through the grid (BEHAVIOR.md).

On the way in (`crontab FILE`, `crontab -`, `crontab -e`), each line whose
command does not already submit to the grid (jsub, jstart, jmail, qsub,
qcronsub) becomes

    MIN HOUR DOM MON DOW /usr/local/bin/jsub -N cron-USER-LINENO -once -quiet COMMAND

so that cron only submits and the job runs on an exec node; -once keeps a slow
job from piling up. `-l` and `-r` are Debian's. Crontabs live on one host (the
cron host, the first bastion): elsewhere the command says where to go.
"""

from __future__ import annotations

import os
import pwd
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence

REAL_CRONTAB = "/usr/bin/crontab"
JSUB = "/usr/local/bin/jsub"
CRON_HOST_FILE = "/etc/toollabs/cron-host"
GRID_COMMANDS = {"jsub", "jstart", "jmail", "qsub", "qcronsub"}
USAGE = "usage: crontab [FILE | - | -e | -l | -r]"


def rewrite_line(line: str, user: str, lineno: int) -> str:
    """One crontab line with its command sent through jsub (comments, settings and
    lines that already submit to the grid are kept as they are)."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return line
    first = stripped.split(None, 1)[0]
    if "=" in first and not first.startswith(("@", "*")) and not first[0].isdigit():
        return line  # an environment setting, e.g. MAILTO=...
    count = 1 if first.startswith("@") else 5
    fields = stripped.split(None, count)
    if len(fields) <= count:
        return line  # not a job line; cron itself will complain
    schedule, command = fields[:count], fields[count]
    try:
        program = shlex.split(command)[0]
    except (ValueError, IndexError):
        program = command.split()[0]
    if os.path.basename(program) in GRID_COMMANDS:
        return line
    return " ".join(schedule) + f" {JSUB} -N cron-{user}-{lineno} -once -quiet {command}"


def rewrite(text: str, user: str) -> str:
    lines = text.splitlines()
    return "".join(rewrite_line(line, user, number) + "\n" for number, line in enumerate(lines, start=1))


def cron_host() -> str | None:
    try:
        with open(CRON_HOST_FILE) as handle:
            return handle.read().strip() or None
    except FileNotFoundError:
        return None


def install(text: str, user: str, run=subprocess.run) -> int:
    with tempfile.NamedTemporaryFile("w", prefix="crontab-", delete=False) as handle:
        handle.write(rewrite(text, user))
        path = handle.name
    try:
        return run([REAL_CRONTAB, path]).returncode
    finally:
        os.unlink(path)


def main(argv: Sequence[str] | None = None, run=subprocess.run) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    host = cron_host()
    if host and host != os.uname().nodename:
        print(f"crontab: crontabs live on {host}: run crontab there (ssh {host})", file=sys.stderr)
        return 1
    user = pwd.getpwuid(os.getuid()).pw_name
    if args in (["-l"], ["-r"], ["-i", "-r"], ["-r", "-i"]):
        return run([REAL_CRONTAB, *args]).returncode
    if args == ["-e"]:
        current = run([REAL_CRONTAB, "-l"], capture_output=True, text=True)
        with tempfile.NamedTemporaryFile("w", prefix="crontab-edit-", suffix=".txt", delete=False) as handle:
            handle.write(current.stdout if current.returncode == 0 else "# m h dom mon dow command\n")
            path = handle.name
        try:
            editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "editor"
            if run([*shlex.split(editor), path]).returncode != 0:
                print("crontab: the editor failed; your crontab was not changed", file=sys.stderr)
                return 1
            with open(path) as handle:
                return install(handle.read(), user, run)
        finally:
            os.unlink(path)
    if len(args) == 1 and not args[0].startswith("-") or args == ["-"]:
        source = sys.stdin if args == ["-"] else None
        try:
            text = source.read() if source else open(args[0]).read()
        except OSError as exc:
            print(f"crontab: {exc.strerror}: {args[0]}", file=sys.stderr)
            return 1
        return install(text, user, run)
    print(USAGE, file=sys.stderr)
    return 1
