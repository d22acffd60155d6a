"""Progress and library logs: a live bar where someone watches, a line per stage elsewhere, no native chatter."""

from __future__ import annotations

import io
import os
import sys

import pytest

from ganon_utils import progress
from ganon_utils.library_logs import LOG_LEVEL_ENV, drop_library_chatter, filtered_native_stderr, is_library_chatter
from ganon_utils.progress import LineProgress, format_seconds, progress_bar, progress_mode

MEDIAPIPE_LINE = (
    "W0000 00:00:1796159098.127926    3729 landmark_projection_calculator.cc:186] Using NORM_RECT without "
    "IMAGE_DIMENSIONS is only supported for the square ROI.\n"
)
TORCH_LINE = (
    "W1201 21:10:49.455000 5032 torch/utils/cpp_extension.py:183] No CUDA runtime is found, using CUDA_HOME='/usr/local'\n"
)


def test_line_progress_prints_one_line_when_the_stage_ends() -> None:
    out = io.StringIO()
    bar = LineProgress(total=27, desc="preprocess", unit="img", file=out)
    for _ in range(27):
        bar.update()
    assert out.getvalue() == ""  # nothing while it runs (under a minute)
    bar.set_postfix(loss_g="1.063")
    bar.close()
    bar.close()  # closing twice prints once
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("preprocess: 27 img in ") and "img/s" in lines[0] and lines[0].endswith("loss_g=1.063")


def test_line_progress_reports_a_partial_stage_and_long_stages_every_interval() -> None:
    out = io.StringIO()
    with LineProgress(total=100, desc="anonymize blur9", unit="face", file=out, interval_s=0.0) as bar:
        for _ in range(35):
            bar.update()
    lines = out.getvalue().splitlines()
    # a progress line per tenth of the work (the interval is 0 here), then the final one
    assert [line.split(" after")[0] for line in lines[:-1]] == [f"anonymize blur9: {n}/100 face" for n in (10, 20, 30)]
    assert lines[-1].startswith("anonymize blur9: 35/100 face in")  # stopped early: says how far it got
    inner = io.StringIO()
    with LineProgress(total=4, desc="epoch 3", unit="step", file=inner, leave=False) as bar:
        bar.update(4)
    assert inner.getvalue() == ""  # a transient inner bar (the steps of an epoch) leaves no line


def test_line_progress_is_silent_when_nothing_was_to_do_and_iterates() -> None:
    out = io.StringIO()
    LineProgress(total=0, desc="anonymize pixel8", file=out).close()
    assert out.getvalue() == ""
    items = list(LineProgress([1, 2, 3], desc="paste back", unit="photo", file=out))
    assert items == [1, 2, 3] and out.getvalue().startswith("paste back: 3 photo in ")


def test_line_progress_scales_bytes() -> None:
    out = io.StringIO()
    bar = LineProgress(total=3 * 2**20, desc="retinaface.pth", unit="B", unit_scale=True, file=out)
    bar.update(3 * 2**20)
    bar.close()
    assert out.getvalue().startswith("retinaface.pth: 3.0 MiB in ")


def test_format_seconds() -> None:
    assert format_seconds(3.14) == "3.1 s" and format_seconds(125.4) == "2 min 05 s" and format_seconds(3720) == "1 h 02 min"


def test_progress_mode_terminal_pipe_kernel_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Tty())
    assert progress_mode() == "bar"
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a pipe, a CI log
    assert progress_mode() == "lines"
    monkeypatch.setitem(sys.modules, "ipykernel", object())  # papermill's kernel: no Jupyter server
    assert progress_mode() == "lines"
    monkeypatch.setenv("JPY_SESSION_NAME", "notebooks/01_preprocess.ipynb")  # JupyterLab's kernel
    assert progress_mode() == "bar"
    monkeypatch.setenv(progress.PROGRESS_ENV, "off")
    assert progress_mode() == "off"


def test_progress_bar_picks_the_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(progress.PROGRESS_ENV, "lines")
    assert isinstance(progress_bar(total=3, desc="x"), LineProgress)
    monkeypatch.setenv(progress.PROGRESS_ENV, "bar")
    bar = progress_bar(total=3, desc="x", disable=True)
    assert not isinstance(bar, LineProgress) and bar.disable
    bar.close()


def test_chatter_patterns_keep_errors_and_unknown_lines() -> None:
    assert is_library_chatter(MEDIAPIPE_LINE) and is_library_chatter(TORCH_LINE)
    assert is_library_chatter("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    assert is_library_chatter("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
    error = "E0000 00:00:1796159098.127926    3729 calculator_graph.cc:887] INTERNAL: graph failed\n"
    assert not is_library_chatter(error) and not is_library_chatter("Traceback (most recent call last):\n")
    assert drop_library_chatter(MEDIAPIPE_LINE + error + "plain\n") == error + "plain\n"


def test_filtered_native_stderr_drops_chatter_written_to_fd_2(capfd: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.delenv(LOG_LEVEL_ENV, raising=False)
    with filtered_native_stderr():
        os.write(2, MEDIAPIPE_LINE.encode())  # as a C++ library writes: below Python's sys.stderr
        with filtered_native_stderr():  # nested: one redirection
            os.write(2, b"a real problem\n")
    assert capfd.readouterr().err == "a real problem\n"
    monkeypatch.setenv(LOG_LEVEL_ENV, "debug")  # --verbose
    with filtered_native_stderr():
        os.write(2, MEDIAPIPE_LINE.encode())
    assert capfd.readouterr().err == MEDIAPIPE_LINE


@pytest.mark.slow
def test_mediapipe_models_leave_no_log_lines(capfd: pytest.CaptureFixture[str], monkeypatch, astronaut) -> None:
    monkeypatch.delenv(LOG_LEVEL_ENV, raising=False)
    from ganon_utils.preprocess.detection import BlazeFaceDetector
    from ganon_utils.preprocess.landmarks import LandmarkExtractor
    from ganon_utils.preprocess.segmentation import SelfieHeadSegmenter

    faces = BlazeFaceDetector()(astronaut)
    SelfieHeadSegmenter()(astronaut, faces[0].box)
    x0, y0, x1, y1 = (int(v) for v in faces[0].box)
    assert LandmarkExtractor()(astronaut[max(0, y0 - 40) : y1 + 40, max(0, x0 - 40) : x1 + 40]) is not None
    err = capfd.readouterr().err
    assert "W0000" not in err and "XNNPACK" not in err and "absl::InitializeLog" not in err
