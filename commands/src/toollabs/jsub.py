"""jsub: see toollabs.jobs and BEHAVIOR.md."""

from toollabs.jobs import jsub_main as main

__all__ = ["main"]
