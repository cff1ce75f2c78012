"""Operating a load after (or while) it runs: ``status`` of jobs, ``verify`` against Spotzee's counts, ``resend``
of dead letters. ``cli`` parses and prints; ``status``, ``verify`` and ``resend`` return data.
"""

from .cli import EXIT_DIFFERENCES, run_resend, run_status, run_verify
from .verify import Verification, VerifyRequest, verify_target

__all__ = [
    "EXIT_DIFFERENCES",
    "Verification",
    "VerifyRequest",
    "run_resend",
    "run_status",
    "run_verify",
    "verify_target",
]
