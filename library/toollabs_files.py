#!/usr/bin/python
"""Write a set of small configuration files in one module call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: toollabs_files
short_description: Write several small files (content, owner, mode) in one call
description:
  - Makes each listed file hold exactly the given content, owner, group and mode,
    creating missing parent directories, or removes it.
  - One call replaces a template/copy task per file. Every Ansible module run on a
    lab host costs a Python start-up on a shared 2-core machine, so a role that
    writes its small files with one call converges several times faster than one
    that loops over copy or template. Render the content on the controller, for
    example with C(lookup('ansible.builtin.template', 'x.j2')).
  - A file whose C(validate) command fails is not written, and the module fails
    naming it; files before it in the list may already have been written.
version_added: "1.0.0"
author: Tool Labs project
options:
  files:
    description: The files to manage.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path of the file.
        type: path
        required: true
      content:
        description: The whole content of the file. Required unless O(files[].state=absent).
        type: str
      owner:
        description: Owner, a name or a number.
        type: str
        default: root
      group:
        description: Group, a name or a number.
        type: str
        default: root
      mode:
        description: Mode, as an octal string such as C("0644").
        type: str
        default: "0644"
      validate:
        description:
          - Command run on a temporary copy before the file is replaced; C(%s)
            stands for the copy's path. The file is only written if it exits 0.
        type: str
      src:
        description: Target of the symbolic link. Required if O(files[].state=link).
        type: str
      state:
        description:
          - C(present) writes the file, C(absent) removes it, C(link) makes
            O(files[].path) a symbolic link to O(files[].src) (replacing a file).
        type: str
        choices: [present, absent, link]
        default: present
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Write sshd's and journald's drop-ins
  toollabs_files:
    files:
      - path: /etc/ssh/sshd_config.d/10-toollabs.conf
        content: "{{ lookup('ansible.builtin.template', 'sshd_config.j2') }}"
        validate: /usr/sbin/sshd -t -f %s
      - path: /etc/systemd/journald.conf.d/toollabs.conf
        content: "[Journal]\nSystemMaxUse=500M\n"
      - path: /etc/localtime
        state: link
        src: /usr/share/zoneinfo/Etc/UTC
      - path: /etc/sudoers.d/old
        state: absent
  register: common_files

- name: Restart journald if its drop-in changed
  ansible.builtin.systemd_service:
    name: systemd-journald
    state: restarted
  when: "'/etc/systemd/journald.conf.d/toollabs.conf' in common_files.changed_paths"
"""

RETURN = r"""
changed_paths:
  description: Paths that were (or, in check mode, would be) written or removed.
  returned: always
  type: list
  elements: str
  sample: [/etc/ssh/sshd_config.d/10-toollabs.conf]
"""

import grp
import os
import pwd
import shlex
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text


def _resolve_id(value, lookup, kind, module):
    if value is None:
        return None
    if str(value).isdigit():
        return int(value)
    try:
        return lookup(value)[2]
    except KeyError:
        if module.check_mode:
            # An earlier task of the same run (a package) would create it.
            module.warn(f"{kind} '{value}' does not exist yet; in a real run it must exist by then")
            return -1
        module.fail_json(msg=f"{kind} '{value}' does not exist on this host; create it first")


def _current(path):
    """(content bytes, uid, gid, mode) of `path`, or None if it does not exist.

    A symbolic link is ('->' target, None, None, None).
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if os.path.islink(path):
        return ("->", os.readlink(path), None, None)
    with open(path, "rb") as handle:
        data = handle.read()
    return data, st.st_uid, st.st_gid, st.st_mode & 0o7777


def _validate(module, spec, data, tmpdir):
    fd, tmp = tempfile.mkstemp(dir=tmpdir, prefix=".toollabs_files-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if "%s" not in spec["validate"]:
            module.fail_json(msg=f"validate for {spec['path']} must contain %s (the file to check)")
        cmd = spec["validate"].replace("%s", shlex.quote(tmp))
        rc, out, err = module.run_command(cmd, use_unsafe_shell=True)
        if rc != 0:
            module.fail_json(
                msg=f"{spec['path']} was not written: '{spec['validate']}' rejected it (exit {rc})",
                stdout=out,
                stderr=err,
            )
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write(module, path, data, uid, gid, mode):
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".toollabs_files-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chown(tmp, uid, gid)
        os.chmod(tmp, mode)
        module.atomic_move(tmp, path)
        # atomic_move gives the new file the old one's (or a default) mode.
        os.chown(path, uid, gid)
        os.chmod(path, mode)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(
                type="list",
                elements="dict",
                required=True,
                options=dict(
                    path=dict(type="path", required=True),
                    content=dict(type="str"),
                    owner=dict(type="str", default="root"),
                    group=dict(type="str", default="root"),
                    mode=dict(type="str", default="0644"),
                    validate=dict(type="str"),
                    src=dict(type="str"),
                    state=dict(type="str", choices=["present", "absent", "link"], default="present"),
                ),
                required_if=[("state", "present", ("content",)), ("state", "link", ("src",))],
            ),
        ),
        supports_check_mode=True,
    )

    seen = set()
    plan = []
    for spec in module.params["files"]:
        path = spec["path"]
        if not os.path.isabs(path):
            module.fail_json(msg=f"path '{path}' must be absolute")
        if path in seen:
            module.fail_json(msg=f"path '{path}' is listed twice")
        seen.add(path)
        try:
            mode = int(spec["mode"], 8)
        except ValueError:
            module.fail_json(msg=f"mode '{spec['mode']}' of {path} is not an octal number such as 0644")
        plan.append((spec, mode))

    changed_paths = []
    diffs = []
    for spec, mode in plan:
        path = spec["path"]
        current = _current(path)
        if spec["state"] == "absent":
            if current is not None:
                changed_paths.append(path)
                diffs.append({"before_header": path, "after_header": path,
                              "before": to_text(current[0]), "after": ""})
                if not module.check_mode:
                    os.unlink(path)
            continue

        if spec["state"] == "link":
            wanted = ("->", spec["src"], None, None)
            if current == wanted:
                continue
            changed_paths.append(path)
            before = "" if current is None else (f"-> {current[1]}" if current[0] == "->" else to_text(current[0]))
            diffs.append({"before_header": path, "after_header": path, "before": before, "after": f"-> {spec['src']}"})
            if not module.check_mode:
                tmp = os.path.join(os.path.dirname(path), f".toollabs_files-{os.getpid()}-link")
                os.symlink(spec["src"], tmp)
                os.replace(tmp, path)
            continue

        data = to_bytes(spec["content"])
        uid = _resolve_id(spec["owner"], pwd.getpwnam, "owner", module)
        gid = _resolve_id(spec["group"], grp.getgrnam, "group", module)
        if current == (data, uid, gid, mode):
            continue
        changed_paths.append(path)
        if current is None:
            before = ""
        elif current[0] == "->":
            before = f"-> {current[1]}"
        else:
            before = to_text(current[0])
        diffs.append({"before_header": path, "after_header": path, "before": before, "after": spec["content"]})
        if module.check_mode:
            continue
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o755)
        if spec.get("validate"):
            _validate(module, spec, data, directory)
        _write(module, path, data, uid, gid, mode)

    result = {"changed": bool(changed_paths), "changed_paths": changed_paths}
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
