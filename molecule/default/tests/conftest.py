"""Shared fixtures for the molecule cluster tests (run by `molecule verify`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import testinfra

ADDRESSES = {"tlm-nfs": "172.30.1.80", "tlm-bastion": "172.30.1.10", "tlm-exec": "172.30.1.21"}


def cluster_host(name: str):
    """A testinfra host of the scenario, by inventory name."""
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}")


@pytest.fixture(scope="session")
def credentials() -> Path:
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "credentials"
