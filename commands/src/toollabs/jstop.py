"""jstop: see toollabs.jobs and BEHAVIOR.md."""

from toollabs.jobs import jstop_main as main

__all__ = ["main"]
