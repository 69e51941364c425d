"""The command line: results on stdout, one-line errors, exit codes, atomic outputs."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from detzip import cli, optiontable

from .conftest import SRC, assert_one_line_error, make_tree, run_cli

ROOT = SRC.parent


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "src", {"app.py": "print(1)\n", "lib/util.py": "X = 2\n"})


def test_function_json_and_human_output(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "f.zip"
    result = run_cli("function", str(src), "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    digest = hashlib.sha256(out.read_bytes()).digest()
    assert data["sha256"] == digest.hex()
    assert data["base64sha256"] == base64.b64encode(digest).decode()
    assert data["size"] == out.stat().st_size
    assert data["entries"] == 2 and data["unzipped_size"] == 15
    assert data["description"]["mtime"] == "1980-01-01T00:00:00Z"
    human = run_cli("function", str(src), "-o", str(out))
    assert human.returncode == 0 and human.stderr == ""
    assert data["base64sha256"] in human.stdout


def test_same_bytes_across_environments(src: Path, tmp_path: Path) -> None:
    """Another TZ, locale, umask and copy location in a fresh process: the same zip."""
    first = run_cli("function", str(src), "-o", str(tmp_path / "1.zip"), "--json")
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(src, copy)
    for path in copy.rglob("*"):
        os.utime(path, (1_234_567_890, 1_234_567_890))
        if path.is_file():
            path.chmod(0o600)
    env = {"TZ": "Asia/Tokyo", "LC_ALL": "C", "LANG": "C"}
    second = subprocess.run(
        [
            "sh",
            "-c",
            f'umask 077 && "{sys.executable}" -m detzip function "{copy}" '
            f'-o "{tmp_path / "2.zip"}" --json',
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(first.stdout)["sha256"] == json.loads(second.stdout)["sha256"]


@pytest.mark.slow
def test_source_date_epoch_and_mtime(src: Path, tmp_path: Path) -> None:
    env_result = run_cli(
        "function",
        str(src),
        "-o",
        str(tmp_path / "e.zip"),
        "--json",
        "--mtime",
        "source-date-epoch",
        env={"SOURCE_DATE_EPOCH": "1700000000"},
    )
    flag_result = run_cli(
        "function",
        str(src),
        "-o",
        str(tmp_path / "f.zip"),
        "--json",
        "--mtime",
        "2023-11-14T22:13:20Z",
    )
    env_data, flag_data = json.loads(env_result.stdout), json.loads(flag_result.stdout)
    assert env_data["description"]["mtime"] == "2023-11-14T22:13:20Z"
    assert env_data["sha256"] == flag_data["sha256"]
    default = json.loads(
        run_cli("function", str(src), "-o", str(tmp_path / "d.zip"), "--json").stdout
    )
    assert default["sha256"] != env_data["sha256"]
    # a CI that exports the commit time changes nothing unless asked to use it
    exported = run_cli("function", str(src), "-o", str(tmp_path / "x.zip"), "--json",
                       env={"SOURCE_DATE_EPOCH": "1700000000"})  # fmt: skip
    assert json.loads(exported.stdout)["sha256"] == default["sha256"]
    for door_value in ("source-date-epoch",):  # one spelling at every door
        project = tmp_path / "proj"
        project.mkdir(exist_ok=True)
        (project / "pyproject.toml").write_text(
            f'[tool.detzip]\nmtime = "{door_value}"\n[tool.detzip.functions.f]\nsource = "{src}"\n'
        )
        built = run_cli("build", "--json", cwd=project, env={"SOURCE_DATE_EPOCH": "1700000000"})
        assert json.loads(built.stdout)["artifacts"][0]["sha256"] == env_data["sha256"]


def test_hash_command(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    target.write_bytes(b"detzip")
    digest = hashlib.sha256(b"detzip").digest()
    result = run_cli("hash", str(target))
    assert result.stdout == base64.b64encode(digest).decode() + "\n"
    assert run_cli("hash", "--hex", str(target)).stdout == digest.hex() + "\n"
    both = run_cli("hash", str(target), str(target)).stdout.splitlines()
    assert both == [f"{base64.b64encode(digest).decode()}  {target}"] * 2
    assert_one_line_error(
        run_cli("hash", str(tmp_path / "missing.zip")), "missing.zip", "no such file"
    )


def test_hash_matches_terraform_filebase64sha256(src: Path, tmp_path: Path) -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed")
    out = tmp_path / "f.zip"
    ours = json.loads(run_cli("function", str(src), "-o", str(out), "--json").stdout)[
        "base64sha256"
    ]
    console = subprocess.run(
        [terraform, "console"],
        input=f'filebase64sha256("{out}")\n',
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"},
    )
    assert console.returncode == 0, console.stderr
    assert console.stdout.strip().strip('"') == ours
    assert run_cli("hash", str(out)).stdout.strip() == ours


def test_python_dash_m_and_console_script(src: Path, tmp_path: Path) -> None:
    assert run_cli("--version").stdout.startswith("detzip ")
    script = Path(sys.executable).parent / "detzip"
    if script.exists():
        result = subprocess.run(
            [str(script), "hash", str(ROOT / "pyproject.toml")], capture_output=True, text=True
        )
        assert result.returncode == 0 and len(result.stdout.strip()) == 44


@pytest.mark.parametrize(
    ("setup", "args", "needles"),
    [
        ("missing", ["function", "{tmp}/nope", "-o", "{out}"], ["nope", "does not exist"]),
        ("file", ["function", "{tmp}/plain.txt", "-o", "{out}"], ["plain.txt", "not a directory"]),
        ("broken", ["function", "{src}", "-o", "{out}"], ["gone.py", "broken symlink"]),
        ("outside", ["function", "{src}", "-o", "{out}"], ["--allow-outside-links"]),
        ("fifo", ["function", "{src}", "-o", "{out}"], ["pipe", "FIFO", "exclude it"]),
        ("loop", ["function", "{src}", "-o", "{out}"], ["symlink loop"]),
        ("nonutf8", ["function", "{src}", "-o", "{out}"], ["not valid UTF-8"]),
        ("none", ["function", "{src}", "-o", "{out}", "--level", "99"], ["level 99", "1..12"]),
        ("none", ["function", "{src}", "-o", "{out}", "--mtime", "soon"], ["--mtime", "ISO"]),
        ("none", ["function", "{src}", "-o", "{tmp}"], ["is a directory"]),
        ("none", ["function", "{src}", "-o", "{out}", "--prefix", "../up"], ["--prefix"]),
        ("badignore", ["function", "{src}", "-o", "{out}"], [".detzipignore"]),
    ],
)
def test_bad_input_is_one_line_and_leaves_nothing(
    tmp_path: Path, src: Path, setup: str, args: list[str], needles: list[str]
) -> None:
    if setup == "file":
        (tmp_path / "plain.txt").write_text("")
    elif setup == "broken":
        (src / "gone.py").symlink_to("nowhere.py")
    elif setup == "outside":
        (tmp_path / "other.py").write_text("")
        (src / "other.py").symlink_to(tmp_path / "other.py")
    elif setup == "fifo":
        os.mkfifo(src / "pipe")
    elif setup == "loop":
        (src / "lib" / "up").symlink_to("..")
    elif setup == "nonutf8":
        with open(os.fsencode(src) + b"/bad\xff.py", "wb"):
            pass
    elif setup == "badignore":
        (src / ".detzipignore").write_bytes(b"\xff\xfe not utf-8")
    out = tmp_path / "out" / "f.zip"
    result = run_cli(*[a.format(tmp=tmp_path, src=src, out=out) for a in args])
    assert_one_line_error(result, *needles)
    assert not out.exists()
    leftovers = [p for p in tmp_path.rglob("*detzip-tmp*")]
    assert leftovers == []


def test_usage_errors_exit_2(src: Path) -> None:
    result = run_cli("function", str(src))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "-o/--output" in result.stderr
    assert run_cli("no-such-command").returncode == 2


def _slow_tree(root: Path) -> Path:
    """Enough incompressible data at level 12 that writing takes a few seconds."""
    root.mkdir()
    chunk = b"".join(
        hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(1 << 15)
    )  # 1 MiB
    for i in range(120):
        (root / f"blob{i:03d}.bin").write_bytes(chunk[i:] + chunk[:i])
    return root


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_while_writing_leaves_no_partial_output(tmp_path: Path, sig: int) -> None:
    src = _slow_tree(tmp_path / "big")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "f.zip"
    out.write_bytes(b"the previous build")
    proc = subprocess.Popen(
        [sys.executable, "-m", "detzip", "function", str(src), "-o", str(out), "--level", "12"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    temp: list[Path] = []
    while time.monotonic() < deadline and not temp:
        temp = [
            p for p in out_dir.iterdir() if p.name.endswith(".detzip-tmp") and p.stat().st_size > 0
        ]
        time.sleep(0.01)
    assert temp, "the writer never started"
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert out.read_bytes() == b"the previous build"
    if sig == signal.SIGTERM:  # a catchable signal cleans up after itself
        assert not any(p.name.endswith(".detzip-tmp") for p in out_dir.iterdir())
    # the next build ignores a leftover temporary file and replaces the output
    done = run_cli("function", str(src), "-o", str(out), "--compressor", "store")
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:2] == b"PK"
    # … and removes what the killed run left beside it
    assert not any(p.name.endswith(".detzip-tmp") for p in out_dir.iterdir())


# -- every command takes its options from the option table ---------------------------------------


def _flags(command: str) -> dict[str, argparse.Action]:
    parser = cli.build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    chosen = sub.choices[command]
    if command == "cache":
        inner = next(a for a in chosen._actions if isinstance(a, argparse._SubParsersAction))
        chosen = inner.choices["prune"]
    return {flag: action for action in chosen._actions for flag in action.option_strings}


def test_build_takes_exactly_the_cache_options_it_honours(tmp_path: Path) -> None:
    flags = set(_flags("build")) - {"-h", "--help", "-v", "--verbose", "-q", "--quiet", "--json",
                                    "--shard"}  # fmt: skip
    assert flags == {"--config", "--cache", "--cache-dir", "--no-cache", "--require-cache",
                     "--cache-write", "--verify"}  # fmt: skip
    result = run_cli("build", "--name", "x", cwd=tmp_path)
    assert_one_line_error(result, "unrecognized arguments: --name")


def test_check_and_cache_take_their_options_from_the_table() -> None:
    check = _flags("check")
    for flag, name in (("--layer", "layers"), ("--external-layer", "external_layers"),
                       ("--upload", "upload"), ):  # fmt: skip
        assert optiontable.option(name).help in (check[flag].help or ""), flag
        assert check[flag].dest == name
    assert check["--upload"].default == optiontable.option("upload").default_for(
        "function", "check"
    )
    assert check["--upload"].choices == optiontable.option("upload").choices
    prune = _flags("cache")
    assert optiontable.option("cache_dir").help in (prune["--cache-dir"].help or "")
    assert optiontable.option("config").help in (_flags("build")["--config"].help or "")


def test_build_help_names_each_project_key_once() -> None:
    result = run_cli("build", "--help")
    assert result.returncode == 0
    lines = {
        line.split(":")[0].strip(): line.split(":", 1)[1]
        for line in result.stdout.splitlines()
        if line.startswith("  ")
        and line.strip().split(":")[0] in ("top level", "layers.NAME", "functions.NAME")
    }
    assert set(lines) == {"top level", "layers.NAME", "functions.NAME"}
    for where, keys in lines.items():
        names = [key.strip().split(" ")[0] for key in keys.split(",")]
        assert len(names) == len(set(names)), (where, names)
    assert "layers (names)" in lines["functions.NAME"]


def test_a_command_line_builds_only_its_commands_parser() -> None:
    """Start-up: a parser per command is ~1 ms; ``detzip function …`` builds function's only,
    and the whole parser (every command, for ``detzip --help``) when no command is named."""
    for argv, built in ((["-v", "function", "src"], {"function"}), (["cache", "info"], {"cache"}),
                        (["--help", "function"], set(cli._COMMAND_PARSERS))):  # fmt: skip
        parser = cli.build_parser(cli._command(argv))
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        assert set(sub.choices) == built, argv
    # what it left out shows nowhere: an unknown command still lists every one
    result = run_cli("functoin", "src")
    assert_one_line_error(result, "invalid choice: 'functoin' (choose from 'function', 'layer'")


def test_verbosity_is_taken_before_and_after_the_command() -> None:
    for argv, verbose, quiet in ((["function", "s", "-o", "x.zip"], 0, False),
                                 (["function", "s", "-o", "x.zip", "-vv"], 2, False),
                                 (["-v", "layer", "-r", "r.txt", "-o", "x.zip", "-q"], 1, True),
                                 (["-q", "cache", "prune", "--verbose"], 1, True),
                                 (["-vq", "hash", "f"], 1, True)):  # fmt: skip
        for command in (cli._command(argv), None):
            args = cli.build_parser(command).parse_args(argv)
            assert (args.verbose, args.quiet) == (verbose, quiet), (argv, command)


def test_main_restores_the_callers_sigterm_handler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a command runs, SIGTERM unwinds it (temporary outputs removed); afterwards an
    in-process caller (a test, a build script) has its own handler back."""
    seen: list[object] = []

    def record(args: argparse.Namespace) -> int:
        seen.append(signal.getsignal(signal.SIGTERM))
        return 0

    monkeypatch.setitem(cli._COMMANDS, "hash", record)

    def mine(signum: int, frame: object) -> None:
        raise AssertionError("not called")

    before = signal.signal(signal.SIGTERM, mine)
    try:
        assert cli.main(["hash", str(tmp_path)]) == 0
        assert seen and seen[0] is not mine and seen[0] is cli._terminate
        assert signal.getsignal(signal.SIGTERM) is mine
        monkeypatch.setitem(cli._COMMANDS, "hash", lambda args: 1 // 0)
        with pytest.raises(ZeroDivisionError):
            cli.main(["hash", str(tmp_path)])
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, before)
