"""Jinja tests for this project (`x is ipv4_address`, `key is ssh_public_key`,
`ansible_facts is container_guest` ...).

The checks themselves live in filter_plugins/toollabs.py, beside the filters
that explain a failure; this file only exposes them as tests.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_path = Path(__file__).resolve().parent.parent / "filter_plugins" / "toollabs.py"
_spec = importlib.util.spec_from_file_location("toollabs_filter_plugins", _path)
_filters = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_filters)


class TestModule:
    """Tool Labs tests."""

    def tests(self):
        return {
            "container_guest": _filters.is_container_guest,
            "ipv4_address": _filters.is_ipv4_address,
            "ipv4_network": _filters.is_ipv4_network,
            "ssh_public_key": _filters.ssh_public_key_valid,
        }
