"""Wheels and lock files made by the tests themselves, so the layer suite runs offline."""

from __future__ import annotations

import base64
import bz2
import hashlib
import re
import struct
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Wheel:
    name: str
    version: str
    tag: str = "py3-none-any"
    files: Mapping[str, bytes | str] = field(default_factory=dict)
    executable: Sequence[str] = ()
    requires: Sequence[str] = ()
    compression: int = zipfile.ZIP_DEFLATED
    summary: str = ""

    @property
    def filename(self) -> str:
        return f"{self.name.replace('-', '_')}-{self.version}-{self.tag}.whl"

    def build(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        dist = f"{self.name.replace('-', '_')}-{self.version}.dist-info"
        members: dict[str, bytes] = {
            name: (data.encode() if isinstance(data, str) else data)
            for name, data in self.files.items()
        }
        requires = "".join(f"Requires-Dist: {r}\n" for r in self.requires)
        provided = sorted({m for r in self.requires for m in re.findall(r'extra == "([^"]+)"', r)})
        requires = "".join(f"Provides-Extra: {e}\n" for e in provided) + requires
        members[f"{dist}/METADATA"] = (
            f"Metadata-Version: 2.1\nName: {self.name}\nVersion: {self.version}\n"
            + (f"Summary: {self.summary}\n" if self.summary else "")
            + requires
        ).encode()
        members[f"{dist}/WHEEL"] = (
            f"Wheel-Version: 1.0\nGenerator: detzip-tests\nRoot-Is-Purelib: "
            f"{'true' if self.tag.endswith('any') else 'false'}\nTag: {self.tag}\n"
        ).encode()
        record = "".join(f"{n},{_record_hash(d)},{len(d)}\n" for n, d in members.items())
        members[f"{dist}/RECORD"] = (record + f"{dist}/RECORD,,\n").encode()
        path = folder / self.filename
        with zipfile.ZipFile(path, "w", self.compression) as archive:
            for name, data in members.items():
                info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
                info.compress_type = self.compression
                mode = 0o755 if name in self.executable else 0o644
                info.external_attr = (0o100000 | mode) << 16
                archive.writestr(info, data)
        return path


@dataclass
class Forged:
    """A member written byte by byte, so that it can lie: ``data`` is its real content; by
    default it is compressed with ``method`` (stored, deflate, bzip2 or lzma) and recorded with
    its true CRC-32 and size, and each of ``raw`` (the compressed bytes), ``crc``, ``size``,
    ``flags``, ``local_name`` (the name in its local header) and ``mode`` can be forged."""

    data: bytes = b""
    method: int = zipfile.ZIP_DEFLATED
    raw: bytes | None = None
    crc: int | None = None
    size: int | None = None
    flags: int = 0
    local_name: str | None = None
    mode: int = 0o100644

    def compressed(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.method == zipfile.ZIP_STORED:
            return self.data
        if self.method == zipfile.ZIP_DEFLATED:
            engine = zlib.compressobj(6, zlib.DEFLATED, -15)
            return engine.compress(self.data) + engine.flush()
        if self.method == zipfile.ZIP_BZIP2:
            return bz2.compress(self.data)
        if self.method == zipfile.ZIP_LZMA:  # zipfile's own framing: version, properties
            lzma = zipfile.LZMACompressor()  # type: ignore[attr-defined]
            return lzma.compress(self.data) + lzma.flush()  # type: ignore[no-any-return]
        raise ValueError(f"give the raw bytes of method {self.method}")


def zeros_bomb(size: int) -> bytes:
    """A raw deflate stream of ``size`` zero bytes (whole MiB), made without compressing them:
    a full flush makes every MiB's compressed bytes the same, ~1 KB each."""
    engine = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = engine.compress(bytes(1 << 20)) + engine.flush(zlib.Z_FULL_FLUSH)
    return block * (size >> 20) + engine.flush()


def forged_wheel(folder: Path, name: str, version: str, members: Mapping[str, Forged]) -> Path:
    """A ``py3-none-any`` wheel with a valid ``.dist-info`` and ``members`` as forged, every
    header written here (zipfile would not write a lie)."""
    dist = f"{name}-{version}.dist-info"
    files = dict(members)
    files[f"{dist}/METADATA"] = Forged(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    )
    files[f"{dist}/WHEEL"] = Forged(
        b"Wheel-Version: 1.0\nGenerator: detzip-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = "".join(f"{n},{_record_hash(m.data)},{len(m.data)}\n" for n, m in files.items())
    files[f"{dist}/RECORD"] = Forged((record + f"{dist}/RECORD,,\n").encode())
    body = bytearray()
    central = bytearray()
    for member, forged in files.items():
        raw = forged.compressed()
        crc = zlib.crc32(forged.data) if forged.crc is None else forged.crc
        size = len(forged.data) if forged.size is None else forged.size
        flags = forged.flags | (0x02 if forged.method == zipfile.ZIP_LZMA else 0)
        encoded, local = member.encode(), (forged.local_name or member).encode()
        offset = len(body)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, forged.method, 0, 0x21, crc,
                            len(raw), size, len(local), 0) + local + raw  # fmt: skip
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x0314, 20, flags,
                               forged.method, 0, 0x21, crc, len(raw), size, len(encoded), 0, 0,
                               0, 0, forged.mode << 16, offset) + encoded  # fmt: skip
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(files), len(files), len(central),
                      len(body), 0)  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    path.write_bytes(bytes(body + central + end))
    return path


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Locked:
    """A package as the lock writers below describe it."""

    name: str
    version: str
    wheels: list[Path]
    marker: str | None = None
    group: str = "main"
    deps: list[str] = field(default_factory=list)


def requirements_txt(packages: Sequence[Locked], folder: Path, *, hashes: bool = True) -> str:
    lines = [f"--find-links {folder}", "--no-index"]
    for p in packages:
        if p.group != "main":
            continue
        line = f"{p.name}=={p.version}"
        if p.marker:
            line += f" ; {p.marker}"
        if hashes:
            line += "".join(f" \\\n    --hash=sha256:{sha256_file(w)}" for w in p.wheels)
        lines.append(line)
    return "\n".join(lines) + "\n"


def poetry_lock(
    packages: Sequence[Locked], *, lock_version: str = "2.1", source: str | None = None
) -> str:
    out = []
    for p in packages:
        files = ", ".join(
            f'{{file = "{w.name}", hash = "sha256:{sha256_file(w)}"}}' for w in p.wheels
        )
        block = [
            "[[package]]",
            f'name = "{p.name}"',
            f'version = "{p.version}"',
            'description = ""',
            "optional = false",
            'python-versions = ">=3.8"',
        ]
        if lock_version == "2.1":
            block.append(f'groups = ["{p.group}"]')
        elif lock_version.startswith("1."):
            block.append(f'category = "{p.group}"')
        if p.marker and lock_version != "2.0":  # markers use double quotes: a literal string
            block.append(f"markers = '{p.marker}'")
        block.append(f"files = [{files}]")
        if p.deps:
            block.append("\n[package.dependencies]")
            block += [f'{d} = "*"' for d in p.deps]
        if source:
            block += [
                "\n[package.source]",
                'type = "legacy"',
                f'url = "{source}"',
                'reference = "private"',
            ]
        out.append("\n".join(block))
    out.append(
        f'[metadata]\nlock-version = "{lock_version}"\npython-versions = ">=3.10"\ncontent-hash = "x"'
    )
    return "\n\n".join(out) + "\n"


def pylock_toml(packages: Sequence[Locked]) -> str:
    out = ['lock-version = "1.0"', 'created-by = "detzip-tests"', 'requires-python = ">=3.10"']
    for p in packages:
        if p.group != "main":
            continue
        block = ["", "[[packages]]", f'name = "{p.name}"', f'version = "{p.version}"']
        if p.marker:
            block.append(f"marker = '{p.marker}'")
        for w in p.wheels:
            block += [
                "[[packages.wheels]]",
                f'name = "{w.name}"',
                f'url = "{w.resolve().as_uri()}"',
                f'hashes = {{sha256 = "{sha256_file(w)}"}}',
            ]
        out += block
    return "\n".join(out) + "\n"


def uv_lock(packages: Sequence[Locked], project: str = "demo") -> str:
    main = [
        p for p in packages if p.group == "main" and not any(p.name in q.deps for q in packages)
    ]
    dev = [p for p in packages if p.group != "main"]

    def dep(p: Locked) -> str:
        marker = f", marker = '{p.marker}'" if p.marker else ""
        return f'{{ name = "{p.name}"{marker} }}'

    out = [
        "version = 1",
        'requires-python = ">=3.10"',
        "",
        "[[package]]",
        f'name = "{project}"',
        'version = "0.1.0"',
        'source = { virtual = "." }',
        f"dependencies = [{', '.join(dep(p) for p in main)}]",
    ]
    if dev:
        out += ["", "[package.dev-dependencies]"]
        groups = sorted({p.group for p in dev})
        out += [f"{g} = [{', '.join(dep(p) for p in dev if p.group == g)}]" for g in groups]
    for p in packages:
        wheels = ", ".join(
            f'{{ url = "{w.resolve().as_uri()}", hash = "sha256:{sha256_file(w)}", size = {w.stat().st_size} }}'
            for w in p.wheels
        )
        out += [
            "",
            "[[package]]",
            f'name = "{p.name}"',
            f'version = "{p.version}"',
            'source = { registry = "https://pypi.org/simple" }',
        ]
        if p.deps:
            names = ", ".join(f'{{ name = "{d}" }}' for d in p.deps)
            out.append(f"dependencies = [{names}]")
        out.append(f"wheels = [{wheels}]")
    return "\n".join(out) + "\n"


def simple_index(folder: Path, wheels: Sequence[Path]) -> str:
    """A PEP 503 index on disk for ``wheels``; returns its file:// URL."""
    root = folder / "simple"
    by_project: dict[str, list[Path]] = {}
    for wheel in wheels:
        by_project.setdefault(wheel.name.split("-")[0].replace("_", "-").lower(), []).append(wheel)
    for project, files in by_project.items():
        page = root / project
        page.mkdir(parents=True, exist_ok=True)
        links = "".join(
            f'<a href="{w.resolve().as_uri()}#sha256={sha256_file(w)}">{w.name}</a>\n'
            for w in files
        )
        (page / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    return root.resolve().as_uri()


NATIVE_TAGS = [
    "cp312-cp312-manylinux_2_28_x86_64",
    "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp311-cp311-manylinux_2_28_x86_64",
    "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64",
]


@dataclass
class Repo:
    folder: Path
    packages: list[Locked]

    def write(self, kind: str, where: Path, **kw: object) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        if kind == "requirements":
            path = where / "requirements.txt"
            path.write_text(requirements_txt(self.packages, self.folder, **kw))  # type: ignore[arg-type]
        elif kind == "poetry":
            path = where / "poetry.lock"
            path.write_text(poetry_lock(self.packages, **kw))  # type: ignore[arg-type]
        elif kind == "pylock":
            path = where / "pylock.toml"
            path.write_text(pylock_toml(self.packages))
        else:
            path = where / "uv.lock"
            path.write_text(uv_lock(self.packages))
        return path

    @property
    def find_links(self) -> dict[str, Any]:
        return {"find_links": [str(self.folder)], "no_index": True}


def demo_repo(folder: Path) -> Repo:
    """alpha (pure, depends on gamma), beta (only below 3.12), devtool (dev group), gamma (abi3
    for both arches), native (cp311/cp312 manylinux, x86_64 and aarch64)."""
    alpha = Wheel(
        "alpha",
        "1.0.0",
        files={
            "alpha/__init__.py": "VERSION = '1.0.0'\n",
            "alpha/data.json": '{"a": 1}\n' * 50,
            "alpha/__pycache__/__init__.cpython-312.pyc": b"\0" * 16,
            "alpha/tests/test_alpha.py": "def test(): pass\n",
            "alpha-1.0.0.data/scripts/alpha-cli": "#!python\nprint('cli')\n",
            "alpha-1.0.0.data/data/share/alpha/readme.txt": "shared data\n",
        },
        executable=["alpha-1.0.0.data/scripts/alpha-cli"],
    ).build(folder)
    natives = [
        Wheel(
            "native",
            "2.0",
            tag,
            files={
                "native/__init__.py": "from native._ext import TAG\n",
                "native/_ext.py": f"TAG = {tag!r}\n",
                "native-2.0.data/platlib/native_lib.so": f"ELF for {tag}".encode() * 40,
            },
            executable=["native-2.0.data/platlib/native_lib.so"],
        ).build(folder)
        for tag in NATIVE_TAGS
    ]
    gamma = [
        Wheel("gamma", "3.1", tag, files={"gamma.py": f"ARCH = {tag!r}\n"}).build(folder)
        for tag in ("cp38-abi3-manylinux2014_x86_64", "cp38-abi3-manylinux2014_aarch64")
    ]
    beta = Wheel(
        "beta", "0.5", files={"beta.py": "OLD = True\n"}, compression=zipfile.ZIP_STORED
    ).build(folder)
    devtool = Wheel("devtool", "9.9", files={"devtool.py": ""}).build(folder)
    return Repo(
        folder,
        [
            Locked("alpha", "1.0.0", [alpha], deps=["gamma"]),
            Locked("beta", "0.5", [beta], marker='python_version < "3.12"'),
            Locked("devtool", "9.9", [devtool], group="dev"),
            Locked("gamma", "3.1", gamma),
            Locked("native", "2.0", natives),
        ],
    )


def sdist_tar(path: Path, top: str, files: Mapping[str, str]) -> Path:
    """A ``.tar.gz`` sdist at ``path`` holding ``files`` under ``top/`` (fixed times, sorted)."""
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as archive:
        for member, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{member}")
            info.size, info.mtime = len(data), 0
            archive.addfile(info, io.BytesIO(data))
    return path
