"""Ending a process that has used the Temporal client.

The SDK's Rust threads may call into the interpreter while it finalizes and abort it
("Fatal Python error: PyGILState_Release ...", temporalio/sdk-python#300), turning a clean
exit into SIGABRT. Entry points that are done therefore flush and leave without finalizing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import NoReturn


def exit_now(code: int = 0) -> NoReturn:
    """Flush logs and standard streams, then end the process with ``code`` at once."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
