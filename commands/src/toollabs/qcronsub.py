"""qcronsub: see toollabs.jobs and BEHAVIOR.md."""

from toollabs.jobs import qcronsub_main as main

__all__ = ["main"]
