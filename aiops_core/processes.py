"""Stopping a child process the one way every launcher here does it."""

from __future__ import annotations

import signal
import subprocess


def terminate(process: subprocess.Popen, timeout: float) -> int:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds; returns its exit code.
    A process that has already exited is left as it is."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode  # set: the process has exited by now
