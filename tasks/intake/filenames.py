"""The name an upload is known by: what the requester sent, made safe to store, show and log."""

import re
import unicodedata
from pathlib import PurePosixPath

# A name longer than a file system allows (255 bytes) is cut; the extension says the format, so it stays.
MAX_FILENAME_BYTES = 255
MAX_EXTENSION_BYTES = 16
# Control characters (NUL cannot be stored in PostgreSQL or a path), halves of surrogate pairs, line and paragraph
# separators, and format characters (U+202E would turn a name around on screen).
DROPPED_CATEGORIES = {"Cc", "Cs", "Zl", "Zp", "Cf"}
DISK_SUFFIX = re.compile(r"\.[a-z0-9]{1,10}")


def clean_filename(name: str | None) -> str:
    """The last part of ``name`` as a path, without control characters, at most MAX_FILENAME_BYTES of UTF-8 with
    its extension kept; ``upload`` when nothing is left."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in DROPPED_CATEGORIES).strip()
    if name in ("", ".", ".."):
        return "upload"
    if len(name.encode()) <= MAX_FILENAME_BYTES:
        return name
    stem, dot, extension = name.rpartition(".")
    suffix = f".{extension}" if dot and stem and len(extension.encode()) < MAX_EXTENSION_BYTES else ""
    stem = name[: len(name) - len(suffix)]
    # Cut on a character boundary: a partial UTF-8 sequence at the end is dropped.
    stem = stem.encode()[: MAX_FILENAME_BYTES - len(suffix.encode())].decode("utf-8", "ignore")
    return stem + suffix


def disk_suffix(filename: str) -> str:
    """The extension to keep on the stored file's name (a short ASCII one, else none), for whoever lists the folder."""
    suffix = PurePosixPath(filename).suffix.lower()
    return suffix if DISK_SUFFIX.fullmatch(suffix) else ""
