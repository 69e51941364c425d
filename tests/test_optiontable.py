"""The option table (detzip.optiontable): every option is spelled at each door it belongs to,
and an error names its settings in the words of the door the user came through."""

from __future__ import annotations

import pytest

from detzip import optiontable
from detzip.errors import DetzipError, Setting
from detzip.optiontable import OPTIONS
from detzip.spelling import speller


def test_every_option_is_spelled_at_each_door_it_belongs_to() -> None:
    for opt in OPTIONS:
        if not opt.kinds:
            continue
        assert opt.cli or opt.name == "source", opt.name  # the CLI takes all (SRC: positional)
        if opt.name != "no_cache":  # elsewhere: cache = "off"
            assert opt.terraform, opt.name
        assert opt.help and not opt.help.endswith("."), opt.name
    from detzip.deps.locks import loading as locks

    assert optiontable.FORMATS == locks.FORMATS


@pytest.mark.parametrize(
    ("door", "expected"),
    [
        ("cli", "upload it through S3 (--upload s3)"),
        ("terraform", 'upload it through S3 (upload = "s3")'),
        ("toml", 'upload it through S3 (upload = "s3")'),
        ("python", "upload it through S3 (upload='s3')"),
    ],
)
def test_an_error_speaks_each_doors_language(door: optiontable.Door, expected: str) -> None:
    error = DetzipError(
        "upload it through S3 ({0}) or make it smaller",
        "big.zip",
        settings=[Setting("upload", "s3")],
    )
    text = error.render(speller(door))
    assert text == f"big.zip: {expected} or make it smaller"
    assert error.prefixed("[api] ").render(speller(door)).startswith("[api] big.zip: ")


def test_an_error_that_takes_more_than_a_message_keeps_all_of_it_when_reworded() -> None:
    """pip's failure carries pip's output: a project's prefix, a door's spelling or another
    path must keep it (copying it once raised a TypeError, a traceback instead of one line)."""
    from detzip.deps.pip import PipFailed

    error = PipFailed("pip could not download alpha", "ERROR: THESE PACKAGES DO NOT MATCH")
    for changed in (error.prefixed("[deps] "), error.about("uv.lock"), error.spelled(str)):
        assert type(changed) is PipFailed and changed.output == error.output
        assert changed.exit_code == 2 and "pip could not download alpha" in str(changed)
    assert str(error.prefixed("[deps] ")) == "[deps] pip could not download alpha"


def test_spellings_of_lists_flags_and_negations() -> None:
    from detzip.spelling import spell

    assert spell("cli", Setting("exclude_packages", ["boto3"])) == "--exclude-package boto3"
    assert spell("cli", Setting("default_excludes", False)) == "--no-default-excludes"
    assert spell("toml", Setting("groups", ["dev"])) == 'with = ["dev"]'
    assert (
        spell("terraform", Setting("exclude_packages", ["a", "b"])) == 'exclude_packages = "a\\nb"'
    )
    assert spell("terraform", Setting("require_cache", True)) == 'require_cache = "true"'
    assert spell("python", Setting("groups", ["dev"])) == "groups=['dev']"


def _rule(opt: optiontable.Option) -> str:
    negated = opt.type == "bool" and opt.default is True
    return ("--no-" if negated else "--") + opt.name.replace("_", "-")


def test_spellings_follow_the_rule_and_only_exceptions_are_declared() -> None:
    """Terraform and TOML key = the name, flag = --dashed-name (--no-… for a switch on by
    default); what the table declares is exactly the exceptions, none repeating the rule."""
    declared = []
    for opt in OPTIONS:
        if opt.flag is not None:
            assert opt.flag != _rule(opt), f"{opt.name}: its flag is the rule's"
            declared.append(opt.flag)
        if opt.key is not None:
            assert opt.key != opt.name, f"{opt.name}: its key is its name"
            declared.append(opt.key)
        if "cli" in opt.doors and not opt.positional:
            assert opt.cli == (opt.flag or _rule(opt))
        else:
            assert opt.cli is None
        for door in ("terraform", "toml"):
            expected = (opt.key or opt.name) if door in opt.doors else None
            assert opt.spelled(door) == expected, (opt.name, door)
        assert opt.spelled("python") == opt.name
    exceptions = ["--add-source", "--with", "with", "--exclude-package", "--extra-index-url"]
    exceptions += ["--external-layer", "--layer"]
    assert sorted(declared) == sorted(exceptions)
    assert optiontable.option("groups").cli == "--with"
    assert optiontable.option("groups").terraform == optiontable.option("groups").toml == "with"
    assert optiontable.option("default_excludes").cli == "--no-default-excludes"
    assert optiontable.option("no_cache").terraform is None  # cache = "off" there
    assert optiontable.option("output").toml is None  # the project file decides
