"""``fetch-weights`` against a local HTTP server (127.0.0.1 only) that supports ranges and can fail on request."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ganon_utils import fetch_weights, weights
from ganon_utils.cli import main as ganon_main
from ganon_utils.weights import WEIGHT_FILES, weight_path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ServerState:
    """What the test server serves and how it misbehaves; ``requests`` logs (path, Range header) per GET."""

    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    ignore_range: bool = False  # answer a range request with the whole file (200), as servers without ranges do
    fail_status: int | None = None  # answer every request with this error status
    cut_after: int | None = None  # send only this many body bytes of the next response, then hang up


def _handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            range_header = self.headers.get("Range")
            state.requests.append((self.path, range_header))
            data = state.files.get(self.path.lstrip("/"))
            if state.fail_status is not None or data is None:
                self.send_error(state.fail_status or 404)
                return
            start = 0
            if range_header and not state.ignore_range:
                start = int(range_header.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state.cut_after is not None:
                body, state.cut_after = body[: state.cut_after], None
                self.close_connection = True
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    return Handler


@dataclass
class Server:
    url: str
    state: ServerState


@pytest.fixture
def server():
    """A local HTTP server on 127.0.0.1 (a free port), serving ``state.files`` by name."""
    state = ServerState()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", state)
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def homes(tmp_path, monkeypatch):
    """Every weight home (deepface, torch, project) under tmp_path; no mirror from the environment."""
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "deepface"))
    monkeypatch.setenv("GANON_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(fetch_weights.MIRROR_ENV, raising=False)
    return tmp_path


def random_bytes(size: int, seed: int = 0) -> bytes:
    import numpy as np

    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def serve(server: Server, key: str, data: bytes) -> Path:
    """Serve ``data`` as the mirror file of ``key``; returns where ``key`` must land."""
    target = weight_path(key)
    server.state.files[target.name] = data
    return target


def run(argv: list[str]) -> int:
    return fetch_weights.cli(["--no-progress", *argv])


def test_every_entry_has_an_official_https_url_and_a_distinct_file_name():
    names = [weight_path(key).name for key in WEIGHT_FILES]
    assert len(set(names)) == len(names)  # a mirror serves every file under its own name
    for key, entry in WEIGHT_FILES.items():
        assert entry.url is not None and entry.url.startswith("https://"), key
    head = WEIGHT_FILES["head_segmentation"].url
    assert head.startswith("https://drive.usercontent.google.com/download?id=1RxXX4g3zMk2CwDtsq-gGleq7aSGoUUHf")
    assert "confirm=t" in head  # the large-file form, without Drive's virus-scan page
    for key in ("convnext_base_imagenet", "convnext_tiny_imagenet"):  # torchvision: name carries the digest prefix
        assert f"-{WEIGHT_FILES[key].sha256_prefix}.pth" in WEIGHT_FILES[key].url


def test_generator_entries_and_default_checkpoint(homes):
    assert weight_path("ganonymization_publication") == homes / "weights" / "ganonymization" / "publication.ckpt"
    assert weight_path("ganonymization_demo") == homes / "weights" / "ganonymization" / "demo.ckpt"
    assert weights.default_generator_checkpoint() == weight_path("ganonymization_publication")
    assert WEIGHT_FILES["ganonymization_publication"].url == "https://mediastore.rz.uni-augsburg.de/get/NsLjQYey65/"
    assert WEIGHT_FILES["ganonymization_demo"].url == "https://mediastore.rz.uni-augsburg.de/get/Sfle_etB1D/"


def test_names_and_groups_resolve_in_order_once():
    assert fetch_weights.resolve_names(["ganonymization"]) == ["ganonymization_publication", "ganonymization_demo"]
    assert fetch_weights.resolve_names(["facenet512", "paper"]) == [
        "facenet512", "retinaface", "head_segmentation", "vgg_face", "convnext_base_imagenet", "ganonymization_publication",
    ]  # fmt: skip
    assert fetch_weights.resolve_names(["all"]) == list(WEIGHT_FILES)


def test_download_lands_at_weight_path_and_loads(server, homes):
    import torch

    state = {"weight": torch.randn(64, 64), "step": torch.tensor(25)}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    target = serve(server, "ganonymization_publication", buffer.getvalue())
    assert run(["ganonymization_publication", "--mirror", server.url + "/"]) == 0
    assert target.read_bytes() == buffer.getvalue()
    assert not fetch_weights.part_path(target).exists()
    assert torch.equal(torch.load(target, weights_only=True)["weight"], state["weight"])
    assert server.state.requests == [("/publication.ckpt", None)]


def test_a_group_lands_every_file_in_its_home(server, homes):
    data = {key: random_bytes(5000, seed=i) for i, key in enumerate(("retinaface", "facenet512", "head_segmentation"))}
    targets = {key: serve(server, key, value) for key, value in data.items()}
    assert run(["retinaface", "facenet512", "head_segmentation", "--mirror", server.url]) == 0
    assert targets["retinaface"] == homes / "deepface" / ".deepface" / "weights" / "retinaface.pth"
    assert targets["head_segmentation"] == homes / "weights" / "head_segmentation" / "head_segmentation.ckpt"
    for key, value in data.items():
        assert targets[key].read_bytes() == value


def test_mirror_from_the_environment(server, monkeypatch):
    target = serve(server, "facenet512", random_bytes(1000))
    monkeypatch.setenv(fetch_weights.MIRROR_ENV, server.url)
    assert run(["facenet512"]) == 0
    assert target.read_bytes() == random_bytes(1000)


def test_partial_download_is_resumed_with_a_range_request(server):
    data = random_bytes(300_000)
    target = serve(server, "retinaface", data)
    part = fetch_weights.part_path(target)
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:123_456])
    assert run(["retinaface", "--mirror", server.url]) == 0
    assert server.state.requests == [("/retinaface.pth", "bytes=123456-")]
    assert target.read_bytes() == data
    assert not part.exists()


def test_a_transfer_cut_short_keeps_the_part_and_the_rerun_resumes(server, capsys):
    data = random_bytes(200_000, seed=3)
    target = serve(server, "facenet512", data)
    server.state.cut_after = 70_000
    assert run(["facenet512", "--mirror", server.url]) == 1
    error = capsys.readouterr().err
    assert "70000 of 200000 bytes" in error and str(target) in error
    assert not target.exists()
    assert fetch_weights.part_path(target).read_bytes() == data[:70_000]
    assert fetch_weights.cli(["facenet512", "--mirror", server.url]) == 0  # with the progress bar, too
    assert server.state.requests[-1] == ("/facenet512_weights.pth", "bytes=70000-")
    assert target.read_bytes() == data


def test_a_server_without_range_support_starts_over(server):
    data = random_bytes(50_000, seed=4)
    target = serve(server, "retinaface", data)
    server.state.ignore_range = True
    part = fetch_weights.part_path(target)
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 1000)  # appending the 200 body to this would corrupt the file
    assert run(["retinaface", "--mirror", server.url]) == 0
    assert server.state.requests == [("/retinaface.pth", "bytes=1000-")]
    assert target.read_bytes() == data


def test_an_oversized_part_is_discarded_after_416(server):
    data = random_bytes(10_000, seed=5)
    target = serve(server, "retinaface", data)
    part = fetch_weights.part_path(target)
    part.parent.mkdir(parents=True)
    part.write_bytes(random_bytes(20_000, seed=6))
    assert run(["retinaface", "--mirror", server.url]) == 0
    assert [r for _, r in server.state.requests] == ["bytes=20000-", None]
    assert target.read_bytes() == data


def test_wrong_full_checksum_is_refused_and_nothing_lands(server, monkeypatch, capsys):
    data = random_bytes(40_000, seed=7)
    target = serve(server, "head_segmentation", data)
    wrong = hashlib.sha256(b"the published file").hexdigest()
    monkeypatch.setitem(WEIGHT_FILES, "head_segmentation", replace(WEIGHT_FILES["head_segmentation"], sha256=wrong))
    assert run(["head_segmentation", "--mirror", server.url]) == 1
    error = capsys.readouterr().err.strip()
    assert "head_segmentation.ckpt" in error and wrong[:16] in error and hashlib.sha256(data).hexdigest()[:16] in error
    assert len(error.splitlines()) == 1
    assert not target.exists() and not fetch_weights.part_path(target).exists()


def test_right_full_checksum_is_accepted(server, monkeypatch):
    data = random_bytes(40_000, seed=8)
    target = serve(server, "head_segmentation", data)
    right = hashlib.sha256(data).hexdigest()
    monkeypatch.setitem(WEIGHT_FILES, "head_segmentation", replace(WEIGHT_FILES["head_segmentation"], sha256=right))
    assert run(["head_segmentation", "--mirror", server.url]) == 0
    assert target.read_bytes() == data


def test_torchvision_digest_prefix_is_checked(server, monkeypatch, capsys):
    data = random_bytes(30_000, seed=9)
    target = serve(server, "convnext_tiny_imagenet", data)  # random bytes: not the published 983f1562... file
    assert run(["convnext_tiny_imagenet", "--mirror", server.url]) == 1
    assert "983f1562" in capsys.readouterr().err
    assert not target.exists()
    prefix = hashlib.sha256(data).hexdigest()[:8]
    entry = replace(WEIGHT_FILES["convnext_tiny_imagenet"], sha256_prefix=prefix)
    monkeypatch.setitem(WEIGHT_FILES, "convnext_tiny_imagenet", entry)
    assert run(["convnext_tiny_imagenet", "--mirror", server.url]) == 0
    assert target.read_bytes() == data


def test_present_file_is_skipped_unless_forced(server, capsys):
    target = serve(server, "retinaface", random_bytes(2000, seed=10))
    target.parent.mkdir(parents=True)
    target.write_bytes(b"my own copy")
    assert run(["retinaface", "--mirror", server.url]) == 0
    assert "already present" in capsys.readouterr().out
    assert server.state.requests == [] and target.read_bytes() == b"my own copy"
    assert run(["retinaface", "--mirror", server.url, "--force"]) == 0
    assert target.read_bytes() == random_bytes(2000, seed=10)


def test_present_file_with_wrong_checksum_is_reported_not_replaced(server, capsys):
    target = weight_path("convnext_base_imagenet")
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not the published file")
    assert run(["convnext_base_imagenet", "--mirror", server.url]) == 1
    error = capsys.readouterr().err
    assert str(target) in error and "6075fbad" in error and "--force" in error
    assert server.state.requests == [] and target.read_bytes() == b"not the published file"


def test_http_error_fails_that_file_and_the_others_proceed(server, capsys):
    good = serve(server, "facenet512", random_bytes(3000, seed=11))  # retinaface is not on the mirror: 404
    assert run(["retinaface", "facenet512", "--mirror", server.url]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "HTTP 404" in error[0] and str(weight_path("retinaface")) in error[0]
    assert good.read_bytes() == random_bytes(3000, seed=11)
    assert not weight_path("retinaface").exists()


def test_a_web_page_instead_of_the_file_is_refused(server, capsys):
    target = serve(server, "head_segmentation", b"<!DOCTYPE html><html><body>Google Drive - Quota exceeded</body></html>")
    assert run(["head_segmentation", "--mirror", server.url]) == 1
    assert "web page" in capsys.readouterr().err
    assert not target.exists() and not fetch_weights.part_path(target).exists()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: connections are refused


def test_unreachable_host_is_one_line_and_exit_1_without_traceback(homes):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "ganon_utils", "fetch-weights", "retinaface", "--no-progress",
         "--mirror", f"http://127.0.0.1:{_closed_port()}"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    target = homes / "deepface" / ".deepface" / "weights" / "retinaface.pth"
    assert len(lines) == 1 and "cannot download retinaface.pth" in lines[0] and str(target) in lines[0]
    assert "refused" in lines[0].lower()
    assert not target.exists()


def test_unknown_name_exits_2_naming_the_valid_names(capsys):
    assert ganon_main(["fetch-weights", "retinaface", "bogus"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "'bogus'" in error[0] and "ganonymization_publication" in error[0] and "paper" in error[0]


def test_listing_names_every_file_its_path_url_and_presence(homes, capsys):
    present = weight_path("facenet512")
    present.parent.mkdir(parents=True)
    present.write_bytes(b"weights")
    assert ganon_main(["fetch-weights"]) == 0
    out = capsys.readouterr().out
    for key, entry in WEIGHT_FILES.items():
        line = next(line for line in out.splitlines() if line.startswith(key + " "))
        assert str(weight_path(key)) in line
        assert ("present" if key == "facenet512" else "missing") in line
        assert entry.url in out
