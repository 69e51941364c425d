"""Archive names: what a member may be called, its parent folders, and the prefix folder.

Light on purpose (no dataclasses): a cache hit normalizes the prefix without loading entries.
"""

from __future__ import annotations

from detzip.errors import DetzipError, Setting, literal

__all__ = ["MAX_NAME", "MAX_PREFIX", "check_name", "nfc", "normalize_prefix", "parents"]

#: the longest archive name the zip format can store (a 16-bit length)
MAX_NAME = 65_535
#: the longest prefix folder accepted (leaves room for the names under it)
MAX_PREFIX = 4_096


def check_name(name: str, *, directory: bool) -> None:
    """Refuse archive names that are absolute, escape the root, or are not valid UTF-8."""
    stem = name[:-1] if directory and name.endswith("/") else name
    if directory and not name.endswith("/"):
        raise DetzipError("a directory's archive name must end with '/'", name)
    if not stem:
        raise DetzipError("an archive name is empty", name)
    if stem.startswith("/"):
        raise DetzipError("archive names must be relative; remove the leading '/'", name)
    if len(stem) > 1 and stem[1] == ":" and stem[0].isascii() and stem[0].isalpha():
        raise DetzipError(
            f"a zip name may not start with a drive letter ({literal(stem[:2])!r}; the zip "
            "specification forbids it), and unzip tools disagree on it: libarchive and Windows "
            f"extract it as {literal(repr(stem[2:].lstrip('/')))}; rename it, or place it under "
            "a folder ({0})",
            name,
            settings=[Setting("prefix")],
        )
    if "\\" in stem:
        slashed = literal(f"'{stem}' as '{stem.replace(chr(92), '/')}'")
        raise DetzipError(
            "a zip name may not hold a backslash (the zip specification separates folders "
            f"with '/'), and unzip tools disagree on it: libarchive and Windows extract "
            f"{slashed}, Info-ZIP "
            "as one file; rename it, or leave it out ({0})",
            name,
            settings=[Setting("exclude")],
        )
    wrapped = f"/{stem}/"  # an empty, '.' or '..' part shows as one of these
    if "//" in wrapped or "/./" in wrapped or "/../" in wrapped:
        raise DetzipError("archive names may not contain empty, '.' or '..' parts", name)
    if "\0" in stem:
        raise DetzipError("archive names may not contain NUL", name)
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        size = -1
    if size > MAX_NAME or (size < 0 and len(name.encode("utf-8", "surrogateescape")) > MAX_NAME):
        raise DetzipError(
            f"an archive name is longer than the {MAX_NAME:,} bytes a zip can hold; shorten it",
            literal(name[:80]) + "…",
        )
    if size < 0:
        raise DetzipError(
            "the name is not valid UTF-8; rename the file with a UTF-8 name", ascii(name)
        )


def nfc(text: str) -> str:
    """``text`` in Unicode normalisation form C: what archive names are (what git stores, and
    what Python's imports on Lambda look for; macOS tools may hand back decomposed names)."""
    if text.isascii():
        return text
    import unicodedata  # (only for a name that is not ASCII)

    return unicodedata.normalize("NFC", text)


def parents(name: str) -> list[str]:
    """The directory names that contain ``name``, outermost first: 'a/b/c' → ['a/', 'a/b/']."""
    parts = name.rstrip("/").split("/")[:-1]
    return ["/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


_PREFIX = Setting("prefix")


def normalize_prefix(prefix: str, setting: Setting = _PREFIX, subject: str = "{0}") -> str:
    """'' or 'a/b/': the folder every archive name is placed under. A bad prefix is an error
    naming ``setting``, the prefix spoken of as ``subject`` (a message template)."""
    cleaned = prefix.replace("\\", "/").strip("/")
    if not cleaned:
        return ""
    if len(cleaned.encode("utf-8", "surrogateescape")) > MAX_PREFIX:
        raise DetzipError(
            f"{subject} is {len(cleaned):,} characters; a folder in the zip takes at most "
            f"{MAX_PREFIX:,} bytes — shorten it",
            settings=[setting],
        )
    if any(part in ("", ".", "..") for part in cleaned.split("/")):
        raise DetzipError(
            f"{subject} {literal(repr(prefix))} must be a relative folder without '.' or '..' "
            "parts",
            settings=[setting],
        )
    return cleaned + "/"
