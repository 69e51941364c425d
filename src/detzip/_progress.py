"""Progress on stderr: one status line, redrawn in place, only when stderr is a terminal.

The CLI turns it on for interactive runs and leaves it off with ``--json``, in Terraform mode,
with ``-q``, and whenever stderr is not a TTY (CI logs, pipes), so those stay clean. The library
never turns it on by itself.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

_enabled = False
_shown = False
_last = 0.0
_INTERVAL = 0.1  # seconds between redraws


def configure(enabled: bool) -> None:
    """Turn the status line on or off (the CLI's choice; off until then)."""
    global _enabled
    _enabled = enabled


def enabled() -> bool:
    """Whether the status line is on."""
    return _enabled


def status(text: str) -> None:
    """Show ``text`` as the status line (replacing the previous one)."""
    global _shown
    if not _enabled:
        return
    import shutil  # only on a terminal: a cache hit does not pay for it

    width = shutil.get_terminal_size((80, 24)).columns - 1
    sys.stderr.write("\r\x1b[K" + text[:width])
    sys.stderr.flush()
    _shown = True


def clear() -> None:
    """Remove the status line (before other output, and at the end)."""
    global _shown
    if _enabled and _shown:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
        _shown = False


def bytes_done(label: str) -> Callable[[int, int], None] | None:
    """A ``(done, total)`` callback drawing ``label  42% (12/30 MB)``; None when off."""
    if not _enabled:
        return None

    def report(done: int, total: int) -> None:
        global _last
        now = time.monotonic()
        if done < total and now - _last < _INTERVAL:
            return
        _last = now
        share = done / total if total else 1.0
        status(f"{label}  {share:4.0%} ({done / 1e6:.0f}/{total / 1e6:.0f} MB)")

    return report
