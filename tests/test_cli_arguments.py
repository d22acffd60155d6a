"""Bad command-line values get one clear line on stderr and exit code 2: never a traceback or a hang."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest
from PIL import Image

from ganon_utils.cli import main
from ganon_utils.cli_arguments import device_name, float_at_least, input_output_problem, int_at_least

STAGE_OPTIONS = [
    ("--size", "0"), ("--size", "-5"), ("--size", "1"), ("--margin", "-1"), ("--margin", "nan"), ("--margin", "inf"),
    ("--min-face-size", "-5"), ("--max-pixels", "0"), ("--workers", "-1"), ("--size", "large"),
]  # fmt: skip


@pytest.fixture()
def photo(tmp_path: Path, astronaut) -> Path:
    path = tmp_path / "in" / "me.png"
    path.parent.mkdir()
    Image.fromarray(astronaut).save(path)
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and stderr of ``python -m ganon_utils ARGV`` run in this process."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = int(stop.code or 0)
    return code, capsys.readouterr().err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "error" in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.parametrize(("option", "value"), STAGE_OPTIONS)
def test_stage_options_are_checked_by_both_commands(option, value, photo, tmp_path, capsys) -> None:
    for command in (["preprocess", str(photo.parent)], ["anonymize", str(photo)]):
        argv = [*command, str(tmp_path / "out"), *(["--method", "pixel8"] if command[0] == "anonymize" else []), option, value]
        assert_one_line_error(*run(argv, capsys), option, repr(value))
    assert not (tmp_path / "out").exists()  # refused before any work


@pytest.mark.parametrize("device", ["nonsense", "gpu0", "cuda:x"])
def test_a_bad_device_is_refused(device, photo, tmp_path, capsys) -> None:
    assert_one_line_error(*run(["anonymize", str(photo), str(tmp_path / "out"), "--method", "pixel8", "--device", device], capsys),
                          "--device")  # fmt: skip


def test_output_that_is_a_file_or_under_one_is_refused(photo, tmp_path, capsys) -> None:
    for output in (photo, photo / "out"):
        assert_one_line_error(*run(["anonymize", str(photo), str(output), "--method", "pixel8"], capsys), "is a file")
        assert_one_line_error(*run(["preprocess", str(photo.parent), str(output)], capsys), "is a file")
    assert_one_line_error(*run(["preprocess", str(photo.parent), str(photo.parent / "out")], capsys), "inside the input")


def test_unknown_dataset_and_missing_manifest(photo, tmp_path, capsys) -> None:
    assert_one_line_error(*run(["preprocess", str(photo.parent), str(tmp_path / "o"), "--dataset", "imagenet"], capsys),
                          "unknown dataset 'imagenet'", "celeba")  # fmt: skip
    assert_one_line_error(*run(["preprocess", str(photo.parent), str(tmp_path / "o"), "--manifest", str(tmp_path / "none.csv")], capsys),
                          "none.csv does not exist")  # fmt: skip
    bad = tmp_path / "bad.csv"
    bad.write_text("path,split\nme.png,all\n")
    assert_one_line_error(
        *run(["preprocess", str(photo.parent), str(tmp_path / "o"), "--manifest", str(bad)], capsys), "image_path"
    )


def test_errors_of_both_commands_go_to_stderr(tmp_path, capsys) -> None:
    for argv in (
        ["preprocess", str(tmp_path / "missing"), str(tmp_path / "o")],
        ["anonymize", str(tmp_path / "missing"), str(tmp_path / "o"), "--method", "pixel8"],
    ):
        code, err = run(argv, capsys)
        assert code == 2 and "does not exist" in err


def test_the_typed_checks() -> None:
    assert int_at_least(1)("3") == 3 and float_at_least(0.0)("0.25") == 0.25
    for parse, text in (
        (int_at_least(1), "0"),
        (int_at_least(0), "1.5"),
        (float_at_least(0.0), "-0.1"),
        (float_at_least(0.0), "nan"),
    ):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)
    assert device_name("cpu") == "cpu" and device_name("auto") == "auto"
    assert not math.isnan(float_at_least(0.0)("1e3"))


def test_input_output_problem(tmp_path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "file").write_text("x")
    assert input_output_problem(tmp_path / "in", tmp_path / "out" / "deeper") is None
    assert "is a file" in input_output_problem(tmp_path / "in", tmp_path / "file" / "out")
    assert "inside the input" in input_output_problem(tmp_path / "in", tmp_path / "in" / "out")
