"""A job's media: images, audio and video that items name in their media columns (docs/FORMS.md, Media).

- What a file is: its first bytes say (``sniff``), never its name: PNG, JPEG, GIF, WebP images; MP3, WAV, FLAC
  audio; Ogg, WebM, MP4/M4A audio or video. Nothing else is kept (SVG and HTML can carry scripts).
- Where it is kept: Django's storage API (``STORAGES["default"]``, files under MEDIA_ROOT unless configured), under
  a random name; a ``MediaFile`` row records the name items use.
- How it arrives: a zip archive uploaded with the data (``archive_check`` before it is accepted, ``archive_unpacked``
  when it is ingested: media and data together, or neither), or one file at a time (``media_store``).
- What rows may name (``MediaRules``, ``row_problem``): a stored file of the column's kind, or an http(s) URL from
  an allowed origin (the job's ``media_origins`` or ``QUORUM_MEDIA_ORIGINS``).
- Who may fetch it: signed URLs (``worker_url`` on the answer path, ``viewer_url`` for requesters), checked by
  quorum/media_serving.py.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import stat
import tempfile
import time
import unicodedata
import uuid
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from .intake import IntakeError, UploadTooLarge
from .models import Job, MediaFile

IMAGE, AUDIO, VIDEO = MediaFile.Kind.IMAGE.value, MediaFile.Kind.AUDIO.value, MediaFile.Kind.VIDEO.value
MEDIA_KINDS = (IMAGE, AUDIO, VIDEO)
KIND_WORDS = {IMAGE: "an image", AUDIO: "audio", VIDEO: "a video"}
# What a file of each content type may be shown as: Ogg, WebM and MP4 containers hold sound, pictures or both.
KINDS_OF = {
    "image/png": (IMAGE,),
    "image/jpeg": (IMAGE,),
    "image/gif": (IMAGE,),
    "image/webp": (IMAGE,),
    "audio/mpeg": (AUDIO,),
    "audio/wav": (AUDIO,),
    "audio/flac": (AUDIO,),
    "audio/ogg": (AUDIO, VIDEO),
    "video/ogg": (VIDEO, AUDIO),
    "video/webm": (VIDEO, AUDIO),
    "audio/mp4": (AUDIO, VIDEO),
    "video/mp4": (VIDEO, AUDIO),
}
SUFFIXES = {
    "image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp", "audio/mpeg": ".mp3",
    "audio/wav": ".wav", "audio/flac": ".flac", "audio/ogg": ".ogg", "video/ogg": ".ogv", "video/webm": ".webm",
    "audio/mp4": ".m4a", "video/mp4": ".mp4",
}  # fmt: skip
FORMATS_TEXT = "PNG, JPEG, GIF or WebP images; MP3, WAV, FLAC, Ogg, WebM or M4A audio; MP4, WebM or Ogg video"
SNIFF_BYTES = 512
CHUNK = 1 << 16
DATA_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json")
# A file that unpacks to this much may be checked for its compression ratio; smaller ones cannot be a bomb.
RATIO_FROM_BYTES = 1 << 20
MAX_NAME_CHARS = 255


# --- what a file is ---------------------------------------------------------------------------------------------


def sniff(head: bytes) -> str | None:
    """The content type the first bytes of a file show (see KINDS_OF), or None for anything else."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"OggS"):
        return "video/ogg" if b"\x80theora" in head else "audio/ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        # EBML: WebM declares its doctype in the header; other Matroska files are not served.
        return "video/webm" if b"\x42\x82\x84webm" in head or b"\x42\x82\x85webm" in head else None
    if head[4:8] == b"ftyp":
        return "audio/mp4" if head[8:12] in (b"M4A ", b"M4B ") else "video/mp4"
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    # An MPEG audio frame: 11 sync bits, a version that exists, layer I-III (layer 00 is AAC's ADTS, not MP3).
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x18 != 0x08 and head[1] & 0x06:
        return "audio/mpeg"
    return None


def primary_kind(content_type: str) -> str:
    return KINDS_OF[content_type][0]


# --- names ------------------------------------------------------------------------------------------------------

DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
DROPPED = {"Cc", "Cs", "Zl", "Zp", "Cf"}


def normal_name(raw: str) -> str:
    """A name as items use it: NFC, '/' between parts (a '\\' too), no leading './'. Never fails; see name_problem."""
    name = unicodedata.normalize("NFC", raw.strip()).replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def name_problem(name: str) -> str | None:
    """Why a normalised name cannot be a stored file's name, or None."""
    if not name:
        return "the file has no name"
    if name.startswith("/") or DRIVE_LETTER.match(name):
        return "the path is absolute; use a path inside the archive"
    parts = name.split("/")
    if ".." in parts:
        return "the path leaves the archive ('..')"
    if "" in parts or "." in parts:
        return "the path has an empty or '.' part"
    if any(unicodedata.category(c) in DROPPED for c in name):
        return "the name holds a control or format character"
    if len(name) > MAX_NAME_CHARS:
        return f"the name is longer than {MAX_NAME_CHARS} characters"
    return None


def junk_entry(name: str) -> bool:
    """Files that archivers add by themselves (macOS resource forks and folder settings, Windows thumbnails)."""
    base = name.rsplit("/", 1)[-1]
    return name.startswith("__MACOSX/") or base.startswith("._") or base in (".DS_Store", "Thumbs.db", "desktop.ini")


def is_archive(path: Path, filename: str) -> bool:
    """A zip archive: named .zip, or starting as one without a data file's extension."""
    lower = filename.lower()
    if lower.endswith(".zip"):
        return True
    if lower.endswith((*DATA_SUFFIXES, ".txt")):
        return False
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


# --- storage ----------------------------------------------------------------------------------------------------


def storage():
    return default_storage


class LimitedReader:
    """Reads a file-like source after bytes already read from it (``head``), counting every byte: past ``limit``
    it raises ``too_large``; it also hashes what passes. Django's storage copies from it chunk by chunk."""

    def __init__(self, head: bytes, source, limit: int, too_large: Exception):
        self.head = head
        self.source = source
        self.limit = limit
        self.too_large = too_large
        self.size = 0
        self.digest = hashlib.sha256()

    # A stream read once, front to back: a bucket's storage sends it in parts as it reads (S3 multipart).
    closed = False

    def seekable(self) -> bool:
        return False

    def read(self, n: int = -1) -> bytes:
        if self.head:
            data, self.head = self.head, b""
        else:
            data = self.source.read(CHUNK if n is None or n < 0 else n)
        self.size += len(data)
        if self.size > self.limit:
            raise self.too_large
        self.digest.update(data)
        return data


def read_head(source, n: int = SNIFF_BYTES) -> bytes:
    head = b""
    while len(head) < n:
        chunk = source.read(n - len(head))
        if not chunk:
            break
        head += chunk
    return head


@dataclass
class Stored:
    """A file written to storage, not yet recorded (or a file found already stored with the same bytes)."""

    name: str
    content_type: str
    size: int
    sha256: str
    storage_name: str

    def record(self, job_id: int) -> MediaFile:
        return MediaFile(
            job_id=job_id,
            name=self.name,
            kind=primary_kind(self.content_type),
            content_type=self.content_type,
            size_bytes=self.size,
            sha256=self.sha256,
            storage_name=self.storage_name,
        )


def store_bytes(job_id: int, name: str, source, limit: int, where: str) -> Stored:
    """Write one media file to storage from a file-like source, checking what it is and how large.

    ``where`` names the file in errors (its path in the archive, or the name it was sent with). Raises IntakeError
    (UploadTooLarge past ``limit``) with nothing left in storage."""
    head = read_head(source)
    content_type = sniff(head)
    if content_type is None:
        raise IntakeError(f"the file is not an image, audio or video file Quorum serves ({FORMATS_TEXT})", file=where)
    too_large = UploadTooLarge(f"the file is larger than the limit of {limit} bytes", file=where)
    reader = LimitedReader(head, source, limit, too_large)
    target = f"media/{job_id}/{uuid.uuid4().hex}{SUFFIXES[content_type]}"
    store = storage()
    try:
        saved = store.save(target, File(reader, name=target))
    except BaseException:
        with contextlib.suppress(Exception):
            store.delete(target)
        raise
    return Stored(name, content_type, reader.size, reader.digest.hexdigest(), saved)


def stored_files_delete(storage_names: Iterable[str]) -> None:
    store = storage()
    for name in storage_names:
        with contextlib.suppress(Exception):  # gone already
            store.delete(name)


def media_record(job_id: int, stored: list[Stored]) -> list[Stored]:
    """Record stored files for the job (in the caller's transaction, under the job's row lock). A name already
    recorded with the same bytes keeps its record, and the new copy is returned to be deleted; with other bytes it
    is an error (items may already show the file under that name)."""
    if not stored:
        return []
    known: dict[str, str] = {}
    names = [s.name for s in stored]
    for start in range(0, len(names), 10_000):
        known.update(
            MediaFile.objects.filter(job_id=job_id, name__in=names[start : start + 10_000]).values_list(
                "name", "sha256"
            )
        )
    duplicates = []
    fresh = []
    for s in stored:
        if s.name not in known:
            fresh.append(s.record(job_id))
        elif known[s.name] == s.sha256:
            duplicates.append(s)
        else:
            raise IntakeError("a different file with this name is already stored for the job", file=s.name)
    MediaFile.objects.bulk_create(fresh, batch_size=5000)
    return duplicates


def media_store(job, files: list[tuple[str, object]]) -> list[tuple[MediaFile, bool]]:
    """Keep files sent on their own (POST /api/jobs/<id>/media/), all of them or none: [(record, is new)].

    ``files`` holds (name, file-like source) pairs. Sending the same bytes under a stored name again changes
    nothing; other bytes under a stored name are refused. Raises IntakeError naming the file."""
    if job.status in (Job.Status.CANCELLED, Job.Status.DONE):
        raise IntakeError(f"a {job.status} job takes no more files", file=files[0][0] if files else "")
    stored: list[Stored] = []
    names: set[str] = set()
    try:
        for raw, source in files:
            name = normal_name(raw or "")
            if problem := name_problem(name):
                raise IntakeError(problem, file=raw or "")
            if name in names:
                raise IntakeError("two files with this name were sent", file=name)
            names.add(name)
            stored.append(store_bytes(job.pk, name, source, settings.QUORUM_MAX_MEDIA_FILE_BYTES, name))
        with transaction.atomic():
            Job.objects.select_for_update().filter(pk=job.pk).first()  # one writer of a job's files at a time
            duplicates = media_record(job.pk, stored)
    except BaseException:
        stored_files_delete(s.storage_name for s in stored)
        raise
    stored_files_delete(d.storage_name for d in duplicates)
    again = {d.name for d in duplicates}
    records = {m.name: m for m in MediaFile.objects.filter(job=job, name__in=[s.name for s in stored])}
    return [(records[s.name], s.name not in again) for s in stored]


# --- archives ---------------------------------------------------------------------------------------------------


@dataclass
class ArchivePlan:
    """What an archive holds, from its directory: the data file's entry and the media entries."""

    data: zipfile.ZipInfo
    media: list[zipfile.ZipInfo]


def archive_check(path: Path, archive_name: str) -> ArchivePlan:
    """Read the archive's directory and refuse it, naming the entry, if anything in it is unsafe or over a limit.

    Sizes here are what the directory declares; ``archive_unpacked`` counts the bytes again as they come out."""
    max_files = settings.QUORUM_MAX_MEDIA_FILES
    max_bytes = settings.QUORUM_MAX_MEDIA_BYTES
    max_ratio = settings.QUORUM_MAX_MEDIA_RATIO
    max_file = settings.QUORUM_MAX_MEDIA_FILE_BYTES
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise IntakeError(f"the file is not a readable zip archive ({exc})", file=archive_name) from None
    with archive:
        entries = archive.infolist()
    if len(entries) > max_files + 1:
        raise IntakeError(
            f"the archive holds {len(entries)} entries, more than the limit of {max_files} files "
            "(QUORUM_MAX_MEDIA_FILES)",
            file=archive_name,
        )
    data: list[zipfile.ZipInfo] = []
    media: list[zipfile.ZipInfo] = []
    seen: set[str] = set()
    total = 0
    for info in entries:
        raw = info.filename
        name = normal_name(raw)
        if stat.S_ISLNK(info.external_attr >> 16):  # Unix file mode bits: a symbolic link
            raise IntakeError("the entry is a symbolic link; send the file itself", file=raw)
        if info.is_dir():
            if problem := name_problem(name.rstrip("/")):
                raise IntakeError(problem, file=raw)
            continue
        if problem := name_problem(name):
            raise IntakeError(problem, file=raw)
        if junk_entry(name):
            continue
        if info.flag_bits & 0x1:
            raise IntakeError("the entry is encrypted", file=name)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
            raise IntakeError(
                f"the entry uses a compression method Quorum cannot read ({info.compress_type})", file=name
            )
        if name in seen:
            raise IntakeError("the archive holds two entries with this name", file=name)
        seen.add(name)
        total += info.file_size
        if total > max_bytes:
            raise UploadTooLarge(
                f"the archive unpacks to more than the limit of {max_bytes} bytes (QUORUM_MAX_MEDIA_BYTES)",
                file=archive_name,
            )
        if info.file_size > RATIO_FROM_BYTES and info.file_size > max_ratio * max(info.compress_size, 1):
            raise IntakeError(
                f"the entry unpacks to {info.file_size} bytes from {info.compress_size}, more than {max_ratio} times "
                "its packed size (QUORUM_MAX_MEDIA_RATIO); is it a zip bomb?",
                file=name,
            )
        if name.lower().endswith(DATA_SUFFIXES):
            data.append(info)
        else:
            if info.file_size > max_file:
                raise UploadTooLarge(
                    f"the file is larger than the limit of {max_file} bytes (QUORUM_MAX_MEDIA_FILE_BYTES)", file=name
                )
            media.append(info)
    if len(media) > max_files:
        raise IntakeError(
            f"the archive holds {len(media)} media files, more than the limit of {max_files} (QUORUM_MAX_MEDIA_FILES)",
            file=archive_name,
        )
    if not data:
        raise IntakeError("the archive holds no data file (.csv, .jsonl or .json)", file=archive_name)
    if len(data) > 1:
        names = ", ".join(normal_name(d.filename) for d in data[:3])
        raise IntakeError(f"the archive holds more than one data file ({names}); send exactly one", file=archive_name)
    return ArchivePlan(data=data[0], media=media)


@dataclass
class Unpacked:
    """An archive taken apart for an ingest: its media in storage (not yet recorded), its data file on disk."""

    job_id: int
    data_path: Path
    data_name: str
    stored: list[Stored] = field(default_factory=list)
    kept: bool = False
    duplicates: list[Stored] = field(default_factory=list)

    def record(self, job) -> None:
        """Record the media (inside the ingest's transaction, under the job's row lock: with the items or not at
        all). Passed to ``ingest_file`` as ``before_rows``, so the rows' checks see these files."""
        self.duplicates = media_record(job.pk, self.stored)

    def keep(self) -> None:
        self.kept = True


@contextlib.contextmanager
def archive_unpacked(job_id: int, path: Path, archive_name: str, workdir: Path) -> Iterator[Unpacked]:
    """Unpack an archive for an ingest: each media file into storage (its bytes counted and sniffed as they come),
    the data file into ``workdir``. Unless the caller calls ``keep()`` (its ingest committed), every file this
    stored is deleted again on the way out; the data file always is."""
    plan = archive_check(path, archive_name)
    max_bytes = settings.QUORUM_MAX_MEDIA_BYTES
    max_file = settings.QUORUM_MAX_MEDIA_FILE_BYTES
    data_name = normal_name(plan.data.filename)
    fd, data_file = tempfile.mkstemp(dir=workdir, suffix=Path(data_name).suffix.lower())
    unpacked = Unpacked(job_id=job_id, data_path=Path(data_file), data_name=data_name)
    total = 0
    try:
        with open(fd, "wb") as out, zipfile.ZipFile(path) as archive:
            for info in plan.media:
                name = normal_name(info.filename)
                with archive.open(info) as member:
                    stored = store_bytes(job_id, name, member, max_file, name)
                unpacked.stored.append(stored)
                total += stored.size
                if total > max_bytes:
                    raise UploadTooLarge(
                        f"the archive unpacks to more than the limit of {max_bytes} bytes (QUORUM_MAX_MEDIA_BYTES)",
                        file=archive_name,
                    )
            with archive.open(plan.data) as member:
                limit = min(settings.QUORUM_MAX_UPLOAD_BYTES, max_bytes - total)
                copied = 0
                while chunk := member.read(CHUNK):
                    copied += len(chunk)
                    if copied > limit:
                        raise UploadTooLarge(
                            f"the data file unpacks to more than the limit of {limit} bytes", file=data_name
                        )
                    out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        unpacked.data_path.unlink(missing_ok=True)
        stored_files_delete(s.storage_name for s in unpacked.stored)
        raise IntakeError(f"the archive is damaged ({exc})", file=archive_name) from None
    except BaseException:
        unpacked.data_path.unlink(missing_ok=True)
        stored_files_delete(s.storage_name for s in unpacked.stored)
        raise
    try:
        yield unpacked
    finally:
        unpacked.data_path.unlink(missing_ok=True)
        if unpacked.kept:
            stored_files_delete(d.storage_name for d in unpacked.duplicates)
        else:
            stored_files_delete(s.storage_name for s in unpacked.stored)


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A zip archive of these files, in memory (tests, the benchmark)."""
    import io

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


# --- what rows may name ------------------------------------------------------------------------------------------


# What an origin may look like once normalised; it goes into Content-Security-Policy headers as it is.
ORIGIN_FORM = re.compile(r"https?://(?:[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL (lower case, default port left out); None if it is not one, if
    its host is not a plain DNS name or IP address, or if it carries a user name or password."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return None
    default = 80 if parts.scheme == "http" else 443
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    origin = f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")
    return origin if ORIGIN_FORM.fullmatch(origin) else None


def origins_problem(origins) -> str | None:
    """Why a job's ``media_origins`` (or the setting) is not a list of origins, or None."""
    if not isinstance(origins, list) or len(origins) > 20:
        return "media_origins must be a list of at most 20 origins"
    for origin in origins:
        if not isinstance(origin, str) or origin_of(origin) != origin.rstrip("/").lower() or "/" in origin[8:]:
            return f"'{origin}' is not an origin like https://media.example.org (scheme, host, optional port)"
    return None


def normal_origins(origins: Iterable) -> list[str]:
    """The valid origins among these, normalised, in order, once each."""
    found = (origin_of(o) for o in origins if isinstance(o, str))
    return list(dict.fromkeys(o for o in found if o))


def deployment_origins() -> list[str]:
    return normal_origins(settings.QUORUM_MEDIA_ORIGINS)


def allowed_origins(job) -> frozenset[str]:
    """Origins whose URLs the job's media columns may hold: the job's own and the deployment's."""
    return frozenset(normal_origins([*(getattr(job, "media_origins", None) or []), *settings.QUORUM_MEDIA_ORIGINS]))


def job_origins(job_id: int) -> list[str]:
    found = Job.objects.filter(pk=job_id).values_list("media_origins", flat=True).first()
    return normal_origins(found or [])


def job_origins_open(limit: int) -> tuple[str, ...]:
    """The media origins of open and paused jobs (workers may be shown their items), at most ``limit``."""
    rows = (
        Job.objects.filter(status__in=[Job.Status.OPEN, Job.Status.PAUSED])
        .exclude(media_origins=[])
        .order_by("-published_at")
        .values_list("media_origins", flat=True)[:1000]
    )
    return tuple(normal_origins(o for origins in rows for o in origins or [])[:limit])


def media_columns_of(form) -> dict[str, str]:
    """{column: kind} of a form's media blocks."""
    return {block["column"]: block["type"] for block in form.media_blocks()}


def is_url(value: str) -> bool:
    return value.startswith(("https://", "http://"))


@dataclass
class MediaRules:
    """What a job's media columns may hold; built once per upload, with every stored file's name loaded once."""

    columns: dict[str, str]
    kinds: dict[str, tuple[str, ...]]
    origins: frozenset[str]

    @classmethod
    def for_job(cls, job, form) -> MediaRules | None:
        """None when the form shows no media (nothing to check, nothing loaded)."""
        columns = media_columns_of(form)
        if not columns:
            return None
        kinds = {
            name: KINDS_OF.get(content_type, ())
            for name, content_type in MediaFile.objects.filter(job_id=job.pk).values_list("name", "content_type")
        }
        return cls(columns=columns, kinds=kinds, origins=allowed_origins(job))

    def value_problem(self, kind: str, value) -> str | None:
        """Why this value cannot stand in a media column of this kind, or None. Empty: no media for the item."""
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            return "a media column holds a file name or an http(s) URL, not a number, list or object"
        if is_url(value):
            origin = origin_of(value)
            if origin is None:
                return f"'{value[:200]}' is not a valid http(s) URL"
            if origin not in self.origins:
                return (
                    f"the URL's origin {origin} is not allowed for this job; add it to the job's media_origins "
                    "(or the deployment's QUORUM_MEDIA_ORIGINS)"
                )
            return None
        name = normal_name(value)
        found = self.kinds.get(name)
        if found is None:
            return (
                f"the file '{value[:300]}' is not stored for this job; send it in the zip archive with the data, "
                "or to /api/jobs/<id>/media/ before the data"
            )
        if kind not in found:
            return f"the file '{name}' is not {KIND_WORDS[kind]} ({KIND_WORDS[found[0]]} file)"
        return None


def row_problem(rules: MediaRules, row: dict) -> tuple[str, str] | None:
    """(column, message) for the first media value of the row that is wrong, or None."""
    for column, kind in rules.columns.items():
        value = row.get(column)
        if value is not None and (problem := rules.value_problem(kind, value)):
            return column, problem
    return None


# --- signed URLs --------------------------------------------------------------------------------------------------

URL_PREFIX = "/media/"
VIEWER = "v"


@lru_cache(maxsize=4)
def _key(secret: str) -> bytes:
    # A key of its own, derived from SECRET_KEY: a media signature is never valid as any other signature.
    return hashlib.sha256(b"quorum.media-url\x00" + secret.encode()).digest()


def signature(job_id: int, name: str, audience: str, expires: int) -> str:
    message = f"{job_id}\x00{name}\x00{audience}\x00{expires}".encode()
    digest = hmac.digest(_key(settings.SECRET_KEY), message, "sha256")
    return base64.urlsafe_b64encode(digest[:18]).decode()


def signed_url(job_id: int, name: str, audience: str, expires: int) -> str:
    return (
        f"{URL_PREFIX}{job_id}/{quote(name, safe='/')}?a={audience}&e={expires}"
        f"&s={signature(job_id, name, audience, expires)}"
    )


def worker_url(job_id: int, name: str, worker_id: int, microtask_id: int, lease_expires: float) -> str:
    """The URL a worker fetches a file by while they hold a lease on the microtask (until the lease's expiry, at
    most QUORUM_MEDIA_WORKER_URL_SECONDS). Runs on the answer path: one HMAC."""
    expires = int(min(lease_expires, time.time() + settings.QUORUM_MEDIA_WORKER_URL_SECONDS)) + 1
    return signed_url(job_id, name, f"w{worker_id}.{microtask_id}", expires)


def viewer_url(job_id: int, name: str) -> str:
    """The URL a job's requester (or staff) fetches a file by, for QUORUM_MEDIA_VIEWER_URL_SECONDS."""
    return signed_url(job_id, name, VIEWER, int(time.time()) + settings.QUORUM_MEDIA_VIEWER_URL_SECONDS)


@dataclass(frozen=True)
class Grant:
    """A verified URL: which file, for whom, until when. ``worker_id`` is None on a viewer's URL."""

    job_id: int
    name: str
    worker_id: int | None
    microtask_id: int | None
    expires: int


def verify(job_id: int, name: str, audience: str, expires: str, sig: str) -> Grant | None:
    """The grant a URL's parts carry if its signature is right (expired or not), else None."""
    try:
        expires_at = int(expires)
    except ValueError:
        return None
    if not hmac.compare_digest(signature(job_id, name, audience, expires_at), sig):
        return None
    if audience == VIEWER:
        return Grant(job_id, name, None, None, expires_at)
    worker, _, microtask = audience[1:].partition(".")
    try:
        return Grant(job_id, name, int(worker), int(microtask), expires_at)
    except ValueError:
        return None


def item_media(columns: dict[str, str], data: dict, make_url) -> dict[str, str]:
    """{column: URL} of an item's media: ``make_url(name)`` for a stored file, an external URL as it is."""
    out = {}
    for column in columns:
        value = data.get(column)
        if isinstance(value, str) and value:
            out[column] = value if is_url(value) else make_url(normal_name(value))
    return out


def no_media(data: dict) -> dict:
    return {}


def lease_media(job_id: int, columns: dict[str, str], worker_id: int, microtask_id: int, lease_expires: float):
    """A function of an item's data giving its ``media`` for a worker's ``task.assigned`` (on the answer path:
    nothing to do for a job without media blocks)."""
    if not columns:
        return no_media
    return lambda data: item_media(
        columns, data, lambda name: worker_url(job_id, name, worker_id, microtask_id, lease_expires)
    )


def viewer_media(job):
    """A function of an item's data giving its ``media`` for the job's requester (results pages, the items API)."""
    from .forms import Form

    columns = media_columns_of(Form.for_job(job))
    if not columns:
        return no_media
    return lambda data: item_media(columns, data, lambda name: viewer_url(job.pk, name))
