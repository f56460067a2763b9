"""Nothing outlives the process that started it: parent-death signals."""

from __future__ import annotations

import os
import signal
import sys

from .names import PR_SET_PDEATHSIG


def die_with_parent(parent: int) -> None:
    """Get SIGKILL as soon as `parent` (the process that started this one) ends, even when it is killed;
    end at once if it already has. The signal survives exec (bwrap, the kernel), not a change of user."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        os._exit(1)
