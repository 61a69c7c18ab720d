"""jstart: see toollabs.jobs and BEHAVIOR.md."""

from toollabs.jobs import jstart_main as main

__all__ = ["main"]
