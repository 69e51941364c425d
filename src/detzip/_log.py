"""detzip's log, on the standard ``logging`` logger named ``detzip`` — imported only when a
message is actually emitted.

``import logging`` costs more than a cache hit's own work. A front door that knows its level
(the CLI: ``-v``, ``-q``) calls :func:`configure`; a message below that level is then dropped
without importing anything, and the first one at or above it runs the front door's ``setup``
(which attaches its handler). Without :func:`configure` (the Python API) every message goes to
``logging.getLogger("detzip")``, where the application's configuration decides.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["DEBUG", "ERROR", "INFO", "WARNING", "configure", "debug", "enabled", "info", "warning"]

# the values of logging.DEBUG … logging.ERROR
DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40

_threshold: int | None = None
_setup: Callable[[], None] | None = None


def configure(level: int, setup: Callable[[], None]) -> None:
    """Drop messages below ``level``; run ``setup`` (once) before the first one emitted."""
    global _threshold, _setup
    _threshold, _setup = level, setup


def enabled(level: int) -> bool:
    """Whether a message at ``level`` would be emitted."""
    if _threshold is not None:
        return level >= _threshold
    import logging

    return logging.getLogger("detzip").isEnabledFor(level)


def _emit(level: int, message: str, *args: object) -> None:
    global _setup
    if _threshold is not None and level < _threshold:
        return
    import logging

    if _setup is not None:
        setup, _setup = _setup, None
        setup()
    logging.getLogger("detzip").log(level, message, *args)


def debug(message: str, *args: object) -> None:
    """Log at DEBUG (``-vv``)."""
    _emit(DEBUG, message, *args)


def info(message: str, *args: object) -> None:
    """Log at INFO (``-v``)."""
    _emit(INFO, message, *args)


def warning(message: str, *args: object) -> None:
    """Log a warning (shown unless ``-q``)."""
    _emit(WARNING, message, *args)
