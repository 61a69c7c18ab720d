"""job: see toollabs.jobs and BEHAVIOR.md."""

from toollabs.jobs import job_main as main

__all__ = ["main"]
