"""Local projects for the local-package tests, built offline.

``minibuild`` is a small but real PEP 517 backend, installed by pip into the isolated build
environment from a wheelhouse the tests make (``--no-index --find-links``), exactly as setuptools
or hatchling would be fetched from an index. It reads PEP 621 ``[project]`` metadata (name,
version, dependencies, optional dependencies), packs a ``src/`` layout or the top-level packages,
and honours ``SOURCE_DATE_EPOCH``.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

from .wheelfactory import Wheel

BACKEND = textwrap.dedent(
    '''
    """minibuild: a PEP 517 backend for tests (PEP 621 metadata, src/ or flat layout)."""
    import base64
    import hashlib
    import os
    import re
    import time
    import tomllib
    import zipfile

    __version__ = "1.0"


    def get_requires_for_build_wheel(config_settings=None):
        return []


    def _project():
        with open("pyproject.toml", "rb") as handle:
            return tomllib.load(handle)["project"]


    def _files(root):
        found = {}
        tops = sorted(os.listdir(root))
        for top in tops:
            path = os.path.join(root, top)
            if os.path.isfile(path) and top.endswith(".py") and root != ".":
                found[top] = path
            if not os.path.isfile(os.path.join(path, "__init__.py")):
                continue
            for folder, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                for name in sorted(names):
                    full = os.path.join(folder, name)
                    found[os.path.relpath(full, root).replace(os.sep, "/")] = full
        return found


    def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
        project = _project()
        name = re.sub(r"[-_.]+", "_", project["name"]).lower()
        version = project["version"]
        lines = ["Metadata-Version: 2.1", "Name: " + project["name"], "Version: " + version]
        lines += ["Requires-Dist: " + r for r in project.get("dependencies", [])]
        for extra, requires in sorted(project.get("optional-dependencies", {}).items()):
            lines.append("Provides-Extra: " + extra)
            lines += [f'Requires-Dist: {r}; extra == "{extra}"' for r in requires]
        dist = f"{name}-{version}.dist-info"
        root = "src" if os.path.isdir("src") else "."
        members = {}
        for arcname, path in sorted(_files(root).items()):
            with open(path, "rb") as handle:
                members[arcname] = handle.read()
        members[dist + "/METADATA"] = ("\\n".join(lines) + "\\n").encode()
        members[dist + "/WHEEL"] = (
            b"Wheel-Version: 1.0\\nGenerator: minibuild\\nRoot-Is-Purelib: true\\n"
            b"Tag: py3-none-any\\n"
        )
        record = "".join(
            "{},sha256={},{}\\n".format(
                n, base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode(),
                len(d))
            for n, d in members.items()
        ) + dist + "/RECORD,,\\n"
        members[dist + "/RECORD"] = record.encode()
        epoch = int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))
        when = time.gmtime(max(epoch, 315532800))[:6]
        filename = f"{name}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as archive:
            for member, data in members.items():
                archive.writestr(zipfile.ZipInfo(member, when), data)
        return filename
    '''
)

#: the build-system table of every project here
BUILD_SYSTEM = '[build-system]\nrequires = ["minibuild>=1"]\nbuild-backend = "minibuild"\n'


def wheelhouse(folder: Path, wheels: Mapping[str, tuple[str, Sequence[str]]]) -> Path:
    """``folder`` with the minibuild backend and a wheel per ``name → (version, requires)``."""
    folder.mkdir(parents=True, exist_ok=True)
    Wheel("minibuild", "1.0", files={"minibuild.py": BACKEND}).build(folder)
    for name, (version, requires) in wheels.items():
        module = name.replace("-", "_")
        Wheel(name, version, files={f"{module}/__init__.py": f"NAME = {name!r}\n"},
              requires=list(requires)).build(folder)  # fmt: skip
    return folder


def package(
    folder: Path,
    name: str,
    version: str,
    *,
    dependencies: Sequence[str] = (),
    files: Mapping[str, str] | None = None,
    src_layout: bool = True,
    extras: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """A local package in ``folder``: pyproject.toml (minibuild) and its module."""
    module = name.replace("-", "_")
    folder.mkdir(parents=True, exist_ok=True)
    text = (
        f'[project]\nname = "{name}"\nversion = "{version}"\n'
        f"dependencies = {json.dumps(list(dependencies))}\n"
    )
    if extras:
        text += "\n[project.optional-dependencies]\n" + "".join(
            f"{extra} = {json.dumps(list(reqs))}\n" for extra, reqs in extras.items()
        )
    (folder / "pyproject.toml").write_text(text + "\n" + BUILD_SYSTEM)
    base = folder / "src" if src_layout else folder
    for member, content in (files or {f"{module}/__init__.py": f"NAME = {name!r}\n"}).items():
        path = base / member
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return folder
