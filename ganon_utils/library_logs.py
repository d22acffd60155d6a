"""Keep the log chatter of the native libraries out of reports and terminals.

MediaPipe (through absl) and TensorFlow Lite write lines such as ``W0000 00:00:... inference_feedback_manager.cc:114]
Feedback manager requires ...`` and ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` straight to the
process's file descriptor 2, below Python, whenever a model is built or first run; torch logs a ``No CUDA runtime is
found, using CUDA_HOME`` warning on machines without a GPU. None of it says anything about the results, and in a
papermill report every worker's copy lands in a red stderr box.

:func:`filtered_native_stderr` wraps the calls into such libraries: for its duration file descriptor 2 points at a
temporary file, and when it ends every line that is not known chatter (:func:`is_library_chatter`) is written to the
real stderr, so errors and unknown warnings still show. ``GANON_LOG_LEVEL=debug`` (``--verbose`` on the command
lines) lets everything through unfiltered.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import numpy as np

LOG_LEVEL_ENV = "GANON_LOG_LEVEL"
"""Environment variable: ``debug`` (or ``verbose``, ``info``) shows the native libraries' logs; anything else hides them."""

VERBOSE_LEVELS = frozenset({"debug", "verbose", "info"})

CHATTER_PATTERNS: tuple[re.Pattern[str], ...] = (
    # absl / glog info and warning lines (MediaPipe's "W0000 00:00:1796159098.127926  3729 file.cc:186] ...",
    # torch's "W1201 21:10:49.455000 5032 torch/utils/cpp_extension.py:183] ..."); E and F lines are kept.
    re.compile(r"^[IW]\d{4} \d{2}:\d{2}:\d+\.\d+\s+\d+ [\w./<>-]+:\d+\] "),
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"),
    re.compile(r"^INFO: Created TensorFlow Lite (XNNPACK )?delegate"),
    re.compile(r"^INFO: Initialized TensorFlow Lite runtime"),
    # jupyter_client interrupts a kernel before shutting it down; an idle ipykernel logs that it caught it
    re.compile(r"^\[IPKernelApp\] ERROR \| KeyboardInterrupt caught in kernel"),
)
"""Lines that native libraries print on every model build or first inference and that carry no information."""

WARM_UP_IMAGE = np.zeros((64, 64, 3), np.uint8)
"""A black image that native models process once while their start-up logs are captured (MediaPipe graphs open
their calculators, which log, on their own threads after the constructor returns)."""

QUIET_PYTHON_LOGGERS = ("torch.utils.cpp_extension", "absl")
"""Python loggers whose warnings are start-up chatter (CUDA_HOME on machines without a GPU, absl's own)."""


def library_logs_shown() -> bool:
    """True when ``GANON_LOG_LEVEL`` asks for the native libraries' logs (``debug``, ``verbose`` or ``info``)."""
    return os.environ.get(LOG_LEVEL_ENV, "").strip().lower() in VERBOSE_LEVELS


def is_library_chatter(line: str) -> bool:
    """True for a line of native-library start-up chatter (see :data:`CHATTER_PATTERNS`)."""
    return any(pattern.match(line) for pattern in CHATTER_PATTERNS)


def drop_library_chatter(text: str) -> str:
    """``text`` without its chatter lines (line endings of the kept lines unchanged)."""
    return "".join(line for line in text.splitlines(keepends=True) if not is_library_chatter(line))


def set_verbose(verbose: bool) -> None:
    """Set ``GANON_LOG_LEVEL`` for this process and the processes it starts (kernels, Dask workers)."""
    if verbose:
        os.environ[LOG_LEVEL_ENV] = "debug"


def quiet_python_loggers() -> None:
    """Raise the level of :data:`QUIET_PYTHON_LOGGERS` to ERROR unless the logs are asked for."""
    if not library_logs_shown():
        for name in QUIET_PYTHON_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)


class _Redirect:
    """Process-wide state of the fd-2 redirection: nested and concurrent users share one temporary file."""

    lock = threading.Lock()
    depth = 0
    saved_fd: int | None = None
    capture: IO[bytes] | None = None


def _start_redirect() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    capture = tempfile.TemporaryFile()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 to redirect: nothing to filter
        capture.close()
        return
    os.dup2(capture.fileno(), 2)
    _Redirect.saved_fd, _Redirect.capture = saved, capture


def _end_redirect() -> None:
    saved, capture = _Redirect.saved_fd, _Redirect.capture
    _Redirect.saved_fd = _Redirect.capture = None
    if saved is None or capture is None:
        return
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass
    os.dup2(saved, 2)
    os.close(saved)
    capture.seek(0)
    kept = drop_library_chatter(capture.read().decode("utf-8", errors="replace"))
    capture.close()
    if kept:
        os.write(2, kept.encode("utf-8"))


@contextmanager
def filtered_native_stderr() -> Iterator[None]:
    """Run the block with file descriptor 2 captured; afterwards write its non-chatter lines to stderr.

    Wrap the construction and the calls of native models (MediaPipe solutions, TFLite interpreters). Thread-safe
    and re-entrant: the first caller redirects, the last one restores and filters. A no-op when the logs are asked
    for (``GANON_LOG_LEVEL=debug``).
    """
    if library_logs_shown():
        yield
        return
    with _Redirect.lock:
        if _Redirect.depth == 0:
            _start_redirect()
        _Redirect.depth += 1
    try:
        yield
    finally:
        with _Redirect.lock:
            _Redirect.depth -= 1
            if _Redirect.depth == 0:
                _end_redirect()
