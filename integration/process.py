"""A local service run as a child process: started in its own session (the terminal's Ctrl-C
reaches the parent, which stops it in order), logging to a file, and frozen, killed or stopped on
purpose by fault tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path


class ServiceProcess:
    """One child process; `stop()` also works on a frozen (SIGSTOPped) one."""

    def __init__(self, log_path: Path | None = None):
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def spawn(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        out: int = subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            out = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self._proc = subprocess.Popen(cmd, stdout=out, stderr=out, env=env, start_new_session=True)
        finally:
            if out != subprocess.DEVNULL:
                os.close(out)

    def freeze(self) -> None:
        """SIGSTOP: connections stay open but nothing answers."""
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGCONT)

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM (after SIGCONT, in case it is frozen), then SIGKILL after `timeout_s`."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """SIGKILL, as when a machine loses power."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
