"""Progress reporting that suits where the code runs.

- In a terminal, and in JupyterLab or Jupyter Notebook, a live bar (tqdm; Jupyter's widget bar when ipywidgets is
  installed, else the text bar, which the front end redraws in place).
- Where nobody watches live (papermill, a pipe, a CI log) a live bar only leaves its every redraw behind: a rendered
  report of a training run was mostly progress-bar lines. There :class:`LineProgress` prints one short line when a
  stage ends ("preprocess: 27 img in 3.1 s (8.7 img/s)"); while a long one runs, a line at most once a minute and
  once per tenth of the work (so an hour-long stage adds about ten lines, a minute-long one none). An inner,
  transient bar (``leave=False``, e.g. the steps of one epoch) prints only those progress lines, no final one.

``GANON_PROGRESS=bar|lines|off`` overrides the choice; ``python -m ganon_utils run`` sets ``lines`` for the notebooks
it executes. :func:`progress_bar` is the one constructor; both kinds take tqdm's ``update``, ``set_postfix``,
``close``, iteration and ``with``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from importlib.util import find_spec
from typing import IO, Any

PROGRESS_ENV = "GANON_PROGRESS"
PROGRESS_MODES = ("bar", "lines", "off")
LINE_INTERVAL_S = 60.0
"""While a stage runs, :class:`LineProgress` prints at most one intermediate line per this many seconds..."""
LINE_FRACTION = 0.1
"""... and per this share of the total (when the total is known)."""


def in_jupyter_frontend() -> bool:
    """True inside an IPython kernel that a Jupyter server started (JupyterLab, Notebook), where a live bar renders.

    jupyter_server gives its kernels ``JPY_SESSION_NAME``; papermill and nbclient do not."""
    return "ipykernel" in sys.modules and bool(os.environ.get("JPY_SESSION_NAME"))


def in_kernel() -> bool:
    """True inside an IPython kernel (Jupyter or papermill), where stdout is the cell's output."""
    return "ipykernel" in sys.modules


def progress_mode() -> str:
    """``bar``, ``lines`` or ``off``: ``$GANON_PROGRESS`` when set, else ``bar`` for a terminal or a Jupyter front
    end and ``lines`` otherwise."""
    chosen = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if chosen in PROGRESS_MODES:
        return chosen
    if in_jupyter_frontend():
        return "bar"
    if in_kernel():
        return "lines"
    stream = sys.stderr
    return "bar" if stream is not None and hasattr(stream, "isatty") and stream.isatty() else "lines"


def format_seconds(seconds: float) -> str:
    """``3.1 s``, ``2 min 05 s``, ``1 h 02 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _format_postfix(postfix: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in postfix.items())


class LineProgress:
    """tqdm's interface, printing one line when the stage ends instead of redrawing a bar.

    The line says what was counted, how long it took and the rate, plus the last ``set_postfix`` values
    (e.g. the losses of an epoch). Nothing is printed for a stage that had nothing to do.
    """

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        initial: int = 0,
        unit_scale: bool = False,
        leave: bool = True,
        file: IO[str] | None = None,
        interval_s: float = LINE_INTERVAL_S,
        fraction: float = LINE_FRACTION,
    ) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.desc, self.unit, self.unit_scale = total, desc, unit, unit_scale
        self.initial = self.n = initial
        self.postfix: dict[str, Any] = {}
        self.leave = leave
        self.file = file
        self.interval_s, self.fraction = interval_s, fraction
        self.started = self.last_line = time.perf_counter()
        self.last_line_n = initial
        self.closed = False

    def _write(self, text: str) -> None:
        stream = self.file or (sys.stdout if in_kernel() else sys.stderr)
        print(text, file=stream, flush=True)

    def _amount(self, value: float) -> str:
        """A count with its unit; with ``unit_scale`` in binary multiples (``12.5 MiB``)."""
        if not self.unit_scale:
            return f"{value:g} {self.unit}" if isinstance(value, float) else f"{value} {self.unit}"
        for prefix in ("", "Ki", "Mi", "Gi", "Ti"):
            if abs(value) < 1024 or prefix == "Ti":
                return f"{value:.1f} {prefix}{self.unit}" if prefix else f"{value:.0f} {self.unit}"
            value /= 1024
        return f"{value} {self.unit}"

    def _line(self, final: bool) -> str:
        elapsed = time.perf_counter() - self.started
        done = self.n - self.initial
        count = self._amount(self.n)
        if self.total is not None and (not final or self.n != self.total):
            count = f"{self.n}/{self._amount(self.total)}" if not self.unit_scale else f"{count} of {self._amount(self.total)}"
        text = f"{self.desc}: {count}" if self.desc else count
        text += f" in {format_seconds(elapsed)}" if final else f" after {format_seconds(elapsed)}"
        if done > 0 and elapsed > 0:
            rate = done / elapsed
            if self.unit_scale:
                text += f" ({self._amount(rate)}/s)"
            else:
                text += f" ({rate:.1f} {self.unit}/s)" if rate >= 1 else f" ({1 / rate:.1f} s/{self.unit})"
        if self.postfix:
            text += ", " + _format_postfix(self.postfix)
        return text

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        enough_work = not self.total or self.n - self.last_line_n >= self.fraction * self.total
        if now - self.last_line >= self.interval_s and enough_work and (self.total is None or self.n < self.total):
            self.last_line, self.last_line_n = now, self.n
            self._write(self._line(final=False))

    def set_postfix(self, ordered_dict: Mapping[str, Any] | None = None, refresh: bool = True, **kwargs: Any) -> None:
        self.postfix = {**dict(ordered_dict or {}), **kwargs}

    def set_description(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.leave and (self.n > self.initial or (self.total or 0) > self.initial):
            self._write(self._line(final=True))

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("LineProgress was made without an iterable")
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _tqdm_class() -> type:
    if find_spec("ipywidgets") is not None and in_jupyter_frontend():
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    initial: int = 0,
    leave: bool = True,
    unit_scale: bool = False,
    disable: bool = False,
) -> Any:
    """A progress reporter for :func:`progress_mode`: a tqdm bar, a :class:`LineProgress` or a silent bar.

    ``disable`` (the caller's ``progress=False``) and ``GANON_PROGRESS=off`` silence it; the object still counts.
    ``unit_scale`` counts in binary multiples (for bytes).
    """
    mode = "off" if disable else progress_mode()
    if mode == "lines":
        return LineProgress(iterable, total=total, desc=desc, unit=unit, initial=initial, unit_scale=unit_scale, leave=leave)
    tqdm = _tqdm_class()
    scale = {"unit_scale": True, "unit_divisor": 1024} if unit_scale else {}
    return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave, disable=mode == "off", **scale)


__all__ = ["LineProgress", "PROGRESS_ENV", "format_seconds", "progress_bar", "progress_mode"]
