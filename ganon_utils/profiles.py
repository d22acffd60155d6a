"""Run profiles: one YAML file holds every parameter of every notebook for one kind of run.

A profile (``profiles/demo.yaml``, ``profiles/paper.yaml`` or a user's copy) has the keys::

    name: demo                # shown in every report
    description: ...          # one line for humans
    setup: {demo_data: true}  # what to prepare before the first notebook
    common: {...}             # parameters passed to every notebook
    notebooks:                # parameters per notebook, keyed by the notebook's file stem
      01_preprocess: {...}

Profiles are data, not code: they are parsed with ``yaml.safe_load`` and checked here so that a
typo fails before hours of computation, not in the middle of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from ganon_utils.stages import PathLike

PROFILE_KEYS = frozenset({"name", "description", "setup", "common", "notebooks"})
SETUP_KEYS = frozenset({"demo_data"})


class ProfileError(ValueError):
    """A profile cannot be found or does not have the expected shape."""


@dataclass(frozen=True)
class Profile:
    """A loaded profile: its name, the file it came from and its parsed content (read-only)."""

    name: str
    path: Path
    data: Mapping[str, Any] = field(repr=False)

    @property
    def setup(self) -> Mapping[str, Any]:
        """What to prepare before the notebooks run (e.g. ``{"demo_data": True}``)."""
        return self.data.get("setup") or {}

    @property
    def description(self) -> str:
        return str(self.data.get("description") or "")


def repo_root() -> Path:
    """The repository root: the folder above the ``ganon_utils`` package."""
    return Path(__file__).resolve().parent.parent


def default_profiles_dir() -> Path:
    return repo_root() / "profiles"


def available_profiles(profiles_dir: Path | None = None) -> list[str]:
    """Names of the profiles in ``profiles_dir`` (file stems of ``*.yaml``/``*.yml``), sorted."""
    folder = default_profiles_dir() if profiles_dir is None else Path(profiles_dir)
    if not folder.is_dir():
        return []
    return sorted({p.stem for p in folder.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file()})


def resolve_profile_path(name_or_path: PathLike, profiles_dir: Path | None = None) -> Path:
    """Turn ``demo`` into ``profiles/demo.yaml``; a path (with a separator or a .yaml suffix) stays a path."""
    text = str(name_or_path)
    folder = default_profiles_dir() if profiles_dir is None else Path(profiles_dir)
    looks_like_path = isinstance(name_or_path, Path) or "/" in text or text.endswith((".yaml", ".yml"))
    if looks_like_path:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ProfileError(f"profile file {text} does not exist")
        return path
    for suffix in (".yaml", ".yml"):
        candidate = folder / f"{text}{suffix}"
        if candidate.is_file():
            return candidate
    names = ", ".join(available_profiles(folder)) or "none"
    raise ProfileError(f"unknown profile {text!r}; available profiles in {folder}: {names} (or pass a path to a .yaml file)")


def _freeze(value: Any) -> Any:
    """Read-only view of parsed YAML, so a profile cannot be changed after loading."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    """Plain dict/list copy of a frozen value (papermill and YAML writers want plain types)."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _check_mapping(value: Any, where: str, path: Path) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ProfileError(f"{path}: {where} must be a mapping (key: value), got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise ProfileError(f"{path}: {where} has a non-text key {key!r}")
    return value


def validate_profile_data(data: Any, path: Path) -> Mapping[str, Any]:
    """Check the profile's shape and return it; raise ``ProfileError`` naming the offending key."""
    data = _check_mapping(data, "the profile", path)
    unknown = sorted(set(data) - PROFILE_KEYS)
    if unknown:
        raise ProfileError(f"{path}: unknown top-level key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(PROFILE_KEYS))}")
    setup = _check_mapping(data.get("setup"), "setup", path)
    unknown_setup = sorted(set(setup) - SETUP_KEYS)
    if unknown_setup:
        raise ProfileError(f"{path}: unknown setup key(s) {', '.join(unknown_setup)}; allowed: {', '.join(sorted(SETUP_KEYS))}")
    _check_mapping(data.get("common"), "common", path)
    notebooks = _check_mapping(data.get("notebooks"), "notebooks", path)
    for stem, section in notebooks.items():
        _check_mapping(section, f"notebooks.{stem}", path)
    if "name" in data and not isinstance(data["name"], str):
        raise ProfileError(f"{path}: name must be text, got {data['name']!r}")
    return data


def load_profile(name_or_path: PathLike, profiles_dir: Path | None = None) -> Profile:
    """Load and check a profile given by name (``profiles/<name>.yaml``) or by path."""
    path = resolve_profile_path(name_or_path, profiles_dir)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ProfileError(f"{path}: not valid YAML: {error}") from error
    data = validate_profile_data(data, path)
    name = data.get("name") or path.stem
    return Profile(name=name, path=path.resolve(), data=_freeze(data))


def notebook_parameters(profile: Profile, stem: str) -> dict[str, Any]:
    """Parameters for notebook ``stem``: the profile's ``common`` overridden by its own section."""
    common = profile.data.get("common") or {}
    section = (profile.data.get("notebooks") or {}).get(stem) or {}
    return _thaw({**common, **section})


def notebook_sections(profile: Profile) -> list[str]:
    """Notebook stems that have their own section in the profile."""
    return list((profile.data.get("notebooks") or {}).keys())


def name_list(value: Any, parameter: str, *, allow_none: bool = False) -> list[str] | None:
    """A notebook's list parameter as a list of names, whatever form it arrived in.

    Profiles give lists; ``papermill -p methods pixel8,blur9`` gives a string, which a notebook would otherwise
    iterate letter by letter. Accepted: a list or tuple of names, ``"pixel8,blur9"``, ``"pixel8 blur9"``,
    ``"[pixel8, blur9]"`` (YAML / JSON), and None when ``allow_none``. Anything else is a ValueError naming the
    parameter.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError as error:
                raise ValueError(f"parameter {parameter}: cannot read {value!r} as a list: {error}") from error
        elif text:
            value = [part for part in text.replace(",", " ").split() if part]
    if isinstance(value, list | tuple) and all(isinstance(item, str) and item for item in value):
        return list(value)
    allowed = "a list of names" + (" or None" if allow_none else "")
    raise ValueError(f"parameter {parameter} must be {allowed} (e.g. [pixel8, blur9] or 'pixel8,blur9'), got {value!r}")
