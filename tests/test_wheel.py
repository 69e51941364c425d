"""Unit tests per pipeline stage, imported directly (no CLI, no build): the lock readers, the
resolution, the wheel store, wheel installation, the cache keys and layout, and atomic writes.

The end-to-end suites (test_layer, test_cache, …) cover the same stages through the front doors;
these pin each stage's own contract so that a failure names the stage.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from detzip import _fs
from detzip.cache import keys, layout
from detzip.cache.local import Cache
from detzip.deps import pip
from detzip.deps._select import choose, select
from detzip.deps.locks.loading import detect_format, load
from detzip.deps.request import Dependencies
from detzip.deps.resolution import resolve
from detzip.deps.store import StoredWheel, Wanted, WheelStore
from detzip.deps.targets import Target
from detzip.errors import DetzipError
from detzip.inputs.wheel import compile_excludes, install
from detzip.zip.entries import Precompressed
from detzip.zip.writer import WrittenZip, write_zip

from .wheelfactory import Repo, Wheel, sha256_file

FORMATS = ("requirements", "poetry", "pylock", "uv")
PY311 = Target("python3.11", "x86_64")
PY312_ARM = Target("python3.12", "arm64")


def _versions(pins: Sequence[Any]) -> dict[str, str]:
    return {pin.name: pin.version for pin in pins}


# -- lock readers ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FORMATS)
def test_every_lock_reader_gives_the_same_pins(repo: Repo, tmp_path: Path, kind: str) -> None:
    lock = repo.write(kind, tmp_path)
    on_311 = load(lock, PY311)
    on_312 = load(lock, PY312_ARM)
    assert on_311.format == kind and lock.absolute() in on_311.inputs
    # beta carries `python_version < "3.12"`; devtool is in the dev group only
    assert _versions(on_311.pins) == {
        "alpha": "1.0.0",
        "beta": "0.5",
        "gamma": "3.1",
        "native": "2.0",
    }
    assert _versions(on_312.pins) == {"alpha": "1.0.0", "gamma": "3.1", "native": "2.0"}
    assert [pin.name for pin in on_311.pins] == sorted(pin.name for pin in on_311.pins)


@pytest.mark.parametrize("kind", ["poetry", "uv"])
def test_groups_add_their_packages(repo: Repo, tmp_path: Path, kind: str) -> None:
    lock = repo.write(kind, tmp_path)
    assert "devtool" not in _versions(load(lock, PY311).pins)
    assert _versions(load(lock, PY311, groups=["dev"]).pins)["devtool"] == "9.9"


def test_lock_hashes_are_the_files_sha256(repo: Repo, tmp_path: Path) -> None:
    lock = repo.write("poetry", tmp_path)
    gamma = next(pin for pin in load(lock, PY311).pins if pin.name == "gamma")
    wheels = next(p for p in repo.packages if p.name == "gamma").wheels
    assert gamma.accepted_hashes == {sha256_file(w) for w in wheels}


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("poetry.lock", "poetry"),
        ("uv.lock", "uv"),
        ("pylock.toml", "pylock"),
        ("pylock.prod.toml", "pylock"),
        ("requirements-prod.txt", "requirements"),
        ("deps.in", "requirements"),
    ],
)
def test_detect_format(name: str, kind: str) -> None:
    assert detect_format(Path(name)) == kind


def test_unknown_lock_name_names_the_format_option() -> None:
    with pytest.raises(DetzipError) as raised:
        detect_format(Path("Pipfile.lock"))
    assert raised.value.settings[0].option == "format"


def test_a_package_pinned_twice_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("alpha==1.0\nalpha==2.0\n")
    with pytest.raises(DetzipError, match="pinned twice"):
        load(lock, PY311)


# -- resolution --------------------------------------------------------------------------------


class _Memo:
    """A memo in memory that records what was asked of it."""

    def __init__(self, value: Any = None) -> None:
        self.value = value
        self.remembered: list[tuple[str, Mapping[str, Any], Sequence[Path], Any]] = []

    def recall(self, kind: str, request: Mapping[str, Any]) -> Any:
        return self.value

    def remember(
        self, kind: str, request: Mapping[str, Any], inputs: Sequence[Path], value: Any
    ) -> None:
        self.remembered.append((kind, request, inputs, value))

    def tree_memo(self, root: Path, describe: Mapping[str, Any]) -> None:
        return None  # local packages' files are walked and read


def _deps(repo: Repo, lock: Path, **kw: Any) -> Dependencies:
    return Dependencies(lock, runtime="python3.11", **repo.find_links, **kw)


@pytest.mark.parametrize("kind", FORMATS)
def test_resolution_is_the_same_whatever_the_format(repo: Repo, tmp_path: Path, kind: str) -> None:
    store = tmp_path / "store"
    memo = _Memo()
    resolution = resolve(_deps(repo, repo.write(kind, tmp_path)), memo, store, tmp_path / "r")
    packages = resolution.description["packages"]
    assert [p["name"] for p in packages] == ["alpha", "beta", "gamma", "native"]
    native = next(p for p in packages if p["name"] == "native")
    # python3.11 runs on Amazon Linux 2 (glibc 2.26): manylinux_2_28 does not run there
    assert (
        native["wheel"] == "native-2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    )
    assert resolution.description["runtime"] == "python3.11"
    # the description is remembered with the files it was read from
    [(what, _, inputs, value)] = memo.remembered
    assert what == "dependencies" and value["description"] == resolution.description
    assert inputs == resolution.inputs and value["inputs"] == [str(p) for p in inputs]


def test_a_remembered_resolution_does_not_read_the_lock(repo: Repo, tmp_path: Path) -> None:
    described = {"packages": [], "runtime": "python3.11"}
    remembered = {"description": described, "inputs": ["/somewhere/poetry.lock"]}
    missing = tmp_path / "gone" / "poetry.lock"
    resolution = resolve(_deps(repo, missing), _Memo(remembered), tmp_path / "s", tmp_path / "r")
    assert resolution.description is described
    assert resolution.inputs == (Path("/somewhere/poetry.lock"),)
    with pytest.raises(DetzipError, match="no such lock"):
        resolution.wheels()  # only a build reads the lock (and would fail here)


def test_choose_prefers_the_best_tag_then_refuses_with_the_option(
    repo: Repo, tmp_path: Path
) -> None:
    pins = {pin.name: pin for pin in load(repo.write("uv", tmp_path), PY311).pins}
    assert choose(pins["gamma"], PY311).filename == "gamma-3.1-cp38-abi3-manylinux2014_x86_64.whl"
    assert choose(pins["gamma"], PY312_ARM).filename == (
        "gamma-3.1-cp38-abi3-manylinux2014_aarch64.whl"
    )
    with pytest.raises(DetzipError) as raised:
        choose(pins["native"], Target("python3.13", "x86_64"))
    assert raised.value.settings[0].option == "exclude_packages"


def test_excluded_packages_leave_the_description(repo: Repo, tmp_path: Path) -> None:
    deps = _deps(repo, repo.write("poetry", tmp_path), exclude_packages=["Native"])
    selection = select(deps, WheelStore(tmp_path / "s", tmp_path / "r"), Cache(tmp_path / "c"))
    assert [p["name"] for p in selection.description["packages"]] == ["alpha", "beta", "gamma"]
    assert selection.description["exclude_packages"] == ["native"]


# -- wheel store -------------------------------------------------------------------------------


def test_store_fetches_missing_wheels_once_then_serves_them(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = WheelStore(tmp_path / "wheels", tmp_path / "resolved")
    pins = load(repo.write("requirements", tmp_path), PY311).pins
    options = [*load(repo.write("requirements", tmp_path), PY311).pip_options]
    wanted = [Wanted(pin) for pin in pins]  # left to pip: no file chosen
    first = store.ensure(wanted, PY311, options)
    assert [w.name for w in first] == ["alpha", "beta", "gamma", "native"]
    for wheel in first:
        assert hashlib.sha256(wheel.path.read_bytes()).hexdigest() == wheel.sha256
        assert wheel.path == tmp_path / "wheels" / wheel.sha256[:2] / wheel.sha256 / wheel.filename

    def no_pip(*args: object, **kw: object) -> None:
        raise AssertionError("a warm store must not run pip")

    monkeypatch.setattr(pip, "run", no_pip)
    assert store.ensure(wanted, PY311, options) == first


def test_store_refuses_bytes_the_lock_does_not_list(repo: Repo, tmp_path: Path) -> None:
    pins = load(repo.write("poetry", tmp_path), PY311).pins
    alpha = next(pin for pin in pins if pin.name == "alpha")
    wrong = type(alpha)(alpha.name, alpha.version, (), None, frozenset({"0" * 64}))
    store = WheelStore(tmp_path / "wheels", tmp_path / "resolved")
    with pytest.raises(DetzipError, match=r"(?i)hash|does not list"):  # pip or the store
        store.ensure([Wanted(wrong)], PY311, ["--no-index", "--find-links", str(repo.folder)])
    assert not any((tmp_path / "wheels").rglob("*.whl")), "nothing unverified is stored"


def test_store_add_and_get(tmp_path: Path) -> None:
    store = WheelStore(tmp_path / "w", tmp_path / "r")
    wheel = Wheel("solo", "1.0", files={"solo.py": "X = 1\n"}).build(tmp_path / "in")
    digest = sha256_file(wheel)
    assert store.get(digest) is None
    stored = store.add(wheel, digest)
    assert store.get(digest) == stored and stored.read_bytes() == wheel.read_bytes()
    assert [p.name for p in stored.parent.iterdir()] == [wheel.name], "no temporary left"


# -- wheel installation ------------------------------------------------------------------------


class _File:
    def __init__(self, path: Path, built: bool = False) -> None:
        self.path = path
        self.built = built
        self.sha256 = sha256_file(path)


def _write(tmp_path: Path, wheels: Sequence[_File], prefix: str = "python/") -> zipfile.ZipFile:
    out = tmp_path / "out.zip"
    write_zip(install(wheels, prefix), out)
    return zipfile.ZipFile(out)


def test_install_places_files_as_pip_does(repo: Repo, tmp_path: Path) -> None:
    alpha = next(p for p in repo.packages if p.name == "alpha").wheels[0]
    archive = _write(tmp_path, [_File(alpha)])
    names = archive.namelist()
    assert "python/alpha/__init__.py" in names
    assert "python/share/alpha/readme.txt" in names  # .data/data → the root
    assert not any("alpha-cli" in n for n in names)  # scripts are not installed
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)  # default excludes
    assert archive.read("python/alpha-1.0.0.dist-info/INSTALLER") == b"detzip\n"


def test_install_record_lists_exactly_the_installed_files(repo: Repo, tmp_path: Path) -> None:
    alpha = next(p for p in repo.packages if p.name == "alpha").wheels[0]
    archive = _write(tmp_path, [_File(alpha)], prefix="")
    rows = list(csv.reader(io.StringIO(archive.read("alpha-1.0.0.dist-info/RECORD").decode())))
    listed = {row[0] for row in rows}
    assert listed == {n for n in archive.namelist() if not n.endswith("/")}
    for path, digest, size in rows:
        if digest:
            data = archive.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode() and int(size) == len(data)


def test_install_copies_members_precompressed_unless_built_here(repo: Repo, tmp_path: Path) -> None:
    gamma = next(p for p in repo.packages if p.name == "gamma").wheels[0]
    copied = install([_File(gamma)], "")
    rebuilt = install([_File(gamma, built=True)], "")
    assert isinstance(next(e for e in copied if e.name == "gamma.py").source, Precompressed)
    assert not isinstance(next(e for e in rebuilt if e.name == "gamma.py").source, Precompressed)


def test_wheel_members_stream_in_chunks_and_the_pages_are_handed_back(tmp_path: Path) -> None:
    from detzip.inputs import wheel as wheels

    big = os.urandom(1 << 20) * 3 + bytes(3 << 20)  # 6 MB, several pieces once deflated
    built = Wheel("big", "1.0", files={"big/lib.so": big, "big/__init__.py": ""}).build(tmp_path)
    entries = install([_File(built)], "python/")
    member = next(e.source for e in entries if e.name == "python/big/lib.so")
    assert isinstance(member, Precompressed) and member.chunks is not None
    pieces = list(member.chunks())
    assert len(pieces) > 1 and max(map(len, pieces)) <= wheels.CHUNK
    assert b"".join(pieces) == member.read() and len(member.read()) == member.compressed_size
    archive = _write(tmp_path, [_File(built)])
    assert archive.read("python/big/lib.so") == big


def test_install_excludes_are_gitignore_patterns(repo: Repo, tmp_path: Path) -> None:
    alpha = next(p for p in repo.packages if p.name == "alpha").wheels[0]
    kept = {e.name for e in install([_File(alpha)], "", compile_excludes(["alpha/tests/"], True))}
    assert "alpha/__init__.py" in kept and not any("tests" in p for p in kept)
    with_bytecode = {e.name for e in install([_File(alpha)], "", compile_excludes((), False))}
    assert "alpha/__pycache__/__init__.cpython-312.pyc" in with_bytecode


def test_install_refuses_a_member_outside_the_layer(tmp_path: Path) -> None:
    bad = Wheel("evil", "1.0", files={"../escape.py": "x"}).build(tmp_path)
    with pytest.raises(DetzipError, match="outside the layer"):
        install([_File(bad)], "python/")


# -- cache keys and layout ---------------------------------------------------------------------


def test_canonical_json_ignores_key_order_and_keeps_unicode() -> None:
    assert keys.canonical_json({"b": 1, "a": "é"}) == keys.canonical_json({"a": "é", "b": 1})
    assert keys.canonical_json({"a": "é"}) == '{"a":"é"}'.encode()


def test_cache_key_depends_on_kind_and_every_value() -> None:
    base = keys.cache_key("layer", {"packages": [{"name": "a"}], "arch": "x86_64"})
    assert base == keys.cache_key("layer", {"arch": "x86_64", "packages": [{"name": "a"}]})
    assert base != keys.cache_key("function", {"packages": [{"name": "a"}], "arch": "x86_64"})
    assert base != keys.cache_key("layer", {"packages": [{"name": "a"}], "arch": "arm64"})
    assert len(base) == 64 and int(base, 16) >= 0


def test_cache_key_is_stable() -> None:
    """A key change invalidates every cache: it must be a deliberate, versioned event."""
    assert keys.KEY_VERSION == 2  # 2: layers are checked complete before they are built
    assert (
        keys.cache_key("function", {"content": "x"})
        == hashlib.sha256(
            b'{"description":{"content":"x"},"detzip-cache-key":2,"kind":"function"}'
        ).hexdigest()
    )


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("api", "api"),
        ("my fn/v2", "my_fn_v2"),
        ("..", "artifact"),
        ("é", "artifact"),
        ("a" * 300, "a" * 100),  # room for the key and the suffixes in a 255-byte name
        ("a" * 99 + "._b", "a" * 99),
    ],
)
def test_entry_names_are_safe_file_names(name: str, safe: str) -> None:
    assert keys.entry_name(name, "ab" * 32) == f"{safe}-{'ab' * 8}"


def test_a_record_is_valid_only_whole() -> None:
    key = "ab" * 32
    good = {"key": key, "name": "f", "sha256": "0" * 64, "size": 1, "unzipped_size": 1,
            "entries": 1, "options": {}}  # fmt: skip
    assert keys.valid_record(good, key)
    assert not keys.valid_record(good, "cd" * 32)
    for field, bad in [("size", "1"), ("size", -1), ("entries", True), ("sha256", "0" * 63),
                       ("sha256", "G" * 64), ("options", []), ("name", None)]:  # fmt: skip
        assert not keys.valid_record({**good, field: bad}, key), field
    assert not keys.valid_record([], key) and not keys.valid_record({}, key)


def test_layout_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here = layout.Layout.at(tmp_path)
    assert [here.artifacts, here.locks, here.memo, here.wheels, here.resolved] == [
        tmp_path / n for n in ("artifacts", "locks", "memo", "wheels", "resolved")
    ]
    monkeypatch.setenv("DETZIP_CACHE_DIR", str(tmp_path / "env"))
    assert layout.Layout.at(None).root == tmp_path / "env"
    monkeypatch.delenv("DETZIP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert layout.default_cache_dir() == tmp_path / "xdg" / "detzip"


def _make(data: bytes) -> Any:
    def build(path: Path) -> WrittenZip:
        path.write_bytes(data)
        return WrittenZip(path, hashlib.sha256(data).hexdigest(), len(data), 0, 0)

    return build


def test_cache_through_builds_once_then_serves(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    key = "1" * 64
    built = cache.through("fn", key, {"a": 1}, tmp_path / "one.zip", _make(b"zip bytes"))
    assert built.source is None and built.entry == cache.layout.artifact(f"fn-{key[:16]}")
    record = json.loads(built.entry.with_suffix(".json").read_bytes())
    assert record["sha256"] == hashlib.sha256(b"zip bytes").hexdigest()

    def never(path: Path) -> WrittenZip:
        raise AssertionError("a hit must not build")

    hit = cache.through("fn", key, {"a": 1}, tmp_path / "two.zip", never)
    assert hit.source == "local" and (tmp_path / "two.zip").read_bytes() == b"zip bytes"


def test_cache_never_serves_a_corrupt_entry(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    key = "2" * 64
    first = cache.through("fn", key, {}, tmp_path / "a.zip", _make(b"good"))
    assert first.entry is not None
    first.entry.write_bytes(b"evil")
    again = cache.through("fn", key, {}, tmp_path / "b.zip", _make(b"good"))
    assert again.source is None and (tmp_path / "b.zip").read_bytes() == b"good"


def test_a_refused_zip_leaves_the_output_alone(tmp_path: Path) -> None:
    out = tmp_path / "out.zip"
    out.write_bytes(b"previous")

    def refuse(path: Path, record: Mapping[str, Any]) -> None:
        raise DetzipError("too big")

    with pytest.raises(DetzipError):
        Cache(tmp_path / "c").through("fn", "3" * 64, {}, out, _make(b"new"), refuse)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "out.zip"], "no temporary left"


# -- atomic writes -----------------------------------------------------------------------------


def test_atomic_output_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.zip"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), _fs.atomic_output(target) as handle:
        handle.write(b"half")
        raise RuntimeError
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]
    _fs.write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and list(tmp_path.iterdir()) == [target]


def test_cache_writes_create_folders_and_leave_no_temporaries(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "memo.json"
    _fs.write_file(deep, b"{}")
    _fs.copy_file(deep, tmp_path / "c" / "copy.json")
    assert deep.read_bytes() == (tmp_path / "c" / "copy.json").read_bytes() == b"{}"
    assert not list(tmp_path.rglob(f"*{_fs.TEMP_SUFFIX}"))


def test_output_that_is_a_folder_names_the_output_option(tmp_path: Path) -> None:
    with pytest.raises(DetzipError) as raised, _fs.atomic_output(tmp_path):
        pass
    assert "directory" in str(raised.value)


def test_stored_wheel_satisfies_the_install_protocol(repo: Repo, tmp_path: Path) -> None:
    gamma = next(p for p in repo.packages if p.name == "gamma").wheels[0]
    stored = StoredWheel("gamma", "3.1", gamma.name, sha256_file(gamma), gamma)
    assert [e.name for e in install([stored], "")] == [e.name for e in install([_File(gamma)], "")]
    assert zipfile.is_zipfile(gamma)
