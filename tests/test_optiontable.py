"""The option table (detzip.optiontable): every option is spelled at each door it belongs to,
and an error names its settings in the words of the door the user came through."""

from __future__ import annotations

import pytest

from detzip import optiontable
from detzip.errors import DetzipError, Setting
from detzip.optiontable import OPTIONS


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
    text = error.render(optiontable.speller(door))
    assert text == f"big.zip: {expected} or make it smaller"
    assert error.prefixed("[api] ").render(optiontable.speller(door)).startswith("[api] big.zip: ")


def test_spellings_of_lists_flags_and_negations() -> None:
    spell = optiontable.spell
    assert spell("cli", Setting("exclude_packages", ["boto3"])) == "--exclude-package boto3"
    assert spell("cli", Setting("default_excludes", False)) == "--no-default-excludes"
    assert spell("toml", Setting("groups", ["dev"])) == 'with = ["dev"]'
    assert (
        spell("terraform", Setting("exclude_packages", ["a", "b"])) == 'exclude_packages = "a\\nb"'
    )
    assert spell("terraform", Setting("require_cache", True)) == 'require_cache = "true"'
    assert spell("python", Setting("groups", ["dev"])) == "groups=['dev']"
