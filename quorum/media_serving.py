"""``GET /media/<job id>/<name>?a=..&e=..&s=..``: a job's media files, served before Django sees the request.

A worker's browser fetches an item's image as it shows the task, so this is on the answer path's heels: a
thousand fetches a second beside the answers. It runs at the ASGI level (quorum/asgi.py) with no Django request,
middleware or thread: the signature (tasks/media.py) is checked in memory, then one SQL round trip
(``workers.lookups``, on connections of its own) identifies the caller by their API token and in the same row finds
the file and says whether the caller may have it (a browser's session takes one more, to read the session).
The common fetch needs none: when this process has already seen the caller's token or session (for a few seconds)
and the file, and one of its own sockets holds that worker's lease, the answer comes from memory.

- a URL whose signature is wrong (or names a file that does not exist) is 404, the same answer either way, so
  nothing can be found by trying names; an expired one is 403;
- no token or session: 401;
- the job's requester and staff may use any URL of the job; a worker's URL serves only the worker it was signed
  for, while they hold a live lease on its microtask; anyone else: 403.

The file is streamed from storage a chunk at a time (``Range`` requests are answered, for audio and video seeking;
from a bucket, only the range wanted is fetched from it) with its stored content type,
``X-Content-Type-Options: nosniff`` and ``Cache-Control: private``.
"""

import asyncio
import re
import time
from functools import lru_cache

from django.conf import settings
from django.http import parse_cookie

from quorum.asgi_replies import send_json

CHUNK = 256 * 1024
RANGE = re.compile(r"bytes=(\d*)-(\d*)")
# Even someone who opens a media URL as a page gets no script run and no frame.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"default-src 'none'; sandbox"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"referrer-policy", b"no-referrer"),
]


def is_media_request(scope) -> bool:
    return scope["type"] == "http" and scope["path"].startswith("/media/")


async def answer(send, status: int, detail: str, extra: list = ()) -> None:
    await send_json(send, status, {"detail": detail}, [(b"cache-control", b"no-store"), *SECURITY_HEADERS, *extra])


def not_found(send):
    return answer(send, 404, "no such media file")


# What a fetch needs besides the signature, remembered by this process: a stored file's row never changes (a job's
# deletion removes the file, and the open then fails as "not found"); who a token or session is, for a few seconds
# (a revoked token keeps only its worker's own leased media for at most that long).
IDENTITY_SECONDS = 10.0
_identities: dict[bytes, tuple[int, float]] = {}
_files: dict[tuple[int, str], dict] = {}
MAX_REMEMBERED = 100_000


def credential(scope) -> bytes | None:
    """The caller's token header or session cookie, as sent (the key of the identity memory)."""
    for key, value in scope["headers"]:
        if key in (b"authorization", b"cookie"):
            return key + b"\x00" + value
    return None


def remember(found: dict, grant, scope) -> None:
    if len(_files) >= MAX_REMEMBERED:
        _files.clear()
    if len(_identities) >= MAX_REMEMBERED:
        _identities.clear()
    _files[(grant.job_id, grant.name)] = {k: found[k] for k in ("storage_name", "content_type", "size_bytes")}
    if (sent := credential(scope)) is not None:
        _identities[sent] = (found["user_id"], time.monotonic() + IDENTITY_SECONDS)


def served_from_memory(scope, grant) -> dict | None:
    """The file row when this process already knows the caller is the URL's worker, the file, and that one of its
    own sockets holds the lease: the common fetch, answered without SQL. None sends the fetch to PostgreSQL."""
    from tasks.scheduling.runtime import Runtime

    if grant.worker_id is None or (file := _files.get((grant.job_id, grant.name))) is None:
        return None
    sent = credential(scope)
    known = _identities.get(sent) if sent is not None else None
    if known is None or known[0] != grant.worker_id or known[1] < time.monotonic():
        return None
    if not Runtime.holds_lease_here(grant.worker_id, grant.microtask_id):
        return None
    return file


async def media_lookup(scope, lookups, grant) -> dict | None:
    """By the ``Authorization: Token`` header, else the session cookie: None if neither is a valid one; else the
    caller with the file (``storage_name`` None if there is none) and whether they may have it."""
    authorization = b""
    cookie = None
    for key, value in scope["headers"]:
        if key == b"authorization":
            authorization = value
        elif key == b"cookie":
            cookie = value
    where = (grant.job_id, grant.name, grant.worker_id, grant.microtask_id)
    if authorization[:6].lower() == b"token ":
        return await lookups.media_for_token(authorization[6:].decode("latin-1").strip(), *where)
    if cookie is not None and settings.SESSION_ENGINE == "django.contrib.sessions.backends.db":
        session_key = parse_cookie(cookie.decode("latin-1")).get(settings.SESSION_COOKIE_NAME)
        if session_key:
            return await lookups.media_for_session(session_key, *where)
    return None


def byte_range(scope, size: int) -> tuple[int, int] | None | bool:
    """(first, last) of a single satisfiable ``Range: bytes=`` request; None when there is none (or it is not one
    this answers: several ranges, another unit), False when it cannot be satisfied."""
    header = next((v for k, v in scope["headers"] if k == b"range"), None)
    if header is None:
        return None
    match = RANGE.fullmatch(header.decode("latin-1").strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:  # the last n bytes
        n = int(last)
        if n == 0:
            return False
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return False
    return start, end


@lru_cache(maxsize=65536)
def _local_path(store, storage_name: str) -> str | None:
    try:
        return store.path(storage_name)
    except NotImplementedError:
        return None


def local_path(store, storage_name: str) -> str | None:
    """The file's path on this machine when the storage keeps files on disk (remembered: a stored file never
    moves), else None."""
    return _local_path(store, storage_name)


class RangeBody:
    """A bucket object's bytes ``first``..``last`` as the bucket sends them: read a chunk at a time from the open
    response, so a large video is never held whole, in memory or on disk."""

    seek_needed = False

    def __init__(self, body):
        self.body = body

    def read(self, n: int) -> bytes:
        return self.body.read(n)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.body.close()


def open_remote(store, storage_name: str, first: int, last: int, length: int):
    """Open a stored file that is not on this machine. A bucket is asked for just the range wanted; another
    storage is opened through the storage API."""
    from tasks.storage import object_key

    key = object_key(store, storage_name)
    if key is None:
        return store.open(storage_name, "rb")
    from botocore.exceptions import ClientError

    wanted = {"Range": f"bytes={first}-{last}"} if length else {}
    try:
        reply = store.connection.meta.client.get_object(Bucket=store.bucket_name, Key=key, **wanted)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            raise FileNotFoundError(storage_name) from exc
        raise
    return RangeBody(reply["Body"])


async def stream(send, scope, found: dict, max_age: int) -> None:
    from tasks.media import storage

    store = storage()
    size = found["size_bytes"]
    headers = [
        (b"content-type", found["content_type"].encode()),
        (b"accept-ranges", b"bytes"),
        (b"cache-control", f"private, max-age={max_age}".encode()),
        *SECURITY_HEADERS,
    ]
    status, first, last = 200, 0, size - 1
    wanted = byte_range(scope, size)
    if wanted is False:
        return await answer(
            send, 416, "the range is outside the file", [(b"content-range", f"bytes */{size}".encode())]
        )
    if wanted:
        status, (first, last) = 206, wanted
        headers.append((b"content-range", f"bytes {first}-{last}/{size}".encode()))
    length = last - first + 1 if size else 0
    headers.append((b"content-length", str(length).encode()))
    path = local_path(store, found["storage_name"])
    try:
        # A local file is read on the loop: a page-cache read of a chunk is microseconds, a thread hop is more.
        if path:
            handle = open(path, "rb")
        else:
            handle = await asyncio.to_thread(open_remote, store, found["storage_name"], first, last, length)
    except FileNotFoundError:
        return await not_found(send)
    with handle:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if scope["method"] == "HEAD" or not length:
            return await send({"type": "http.response.body", "body": b""})
        if first and getattr(handle, "seek_needed", True):
            handle.seek(first) if path else await asyncio.to_thread(handle.seek, first)
        left = length
        while left > 0:
            want = min(CHUNK, left)
            chunk = handle.read(want) if path else await asyncio.to_thread(handle.read, want)
            if not chunk:
                break  # the file shrank under us: end here (the client sees a short body)
            left -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})
        if left > 0:
            await send({"type": "http.response.body", "body": b""})


async def serve_media(scope, receive, send) -> None:
    from tasks import media
    from workers.lookups import Lookups

    if scope["method"] not in ("GET", "HEAD"):
        # A body it may carry is never read: the connection cannot carry another request.
        return await answer(send, 405, "use GET", [(b"allow", b"GET, HEAD"), (b"connection", b"close")])
    path = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    job_part, _, name = path[len(media.URL_PREFIX) :].partition("/")
    # The URL's own parameters hold no character that needs decoding (digits, letters, '.', base64url).
    query = dict(
        part.split("=", 1) for part in scope.get("query_string", b"").decode("latin-1").split("&") if "=" in part
    )
    try:
        job_id = int(job_part)
        audience, expires, sig = query["a"], query["e"], query["s"]
    except (KeyError, ValueError):
        return await not_found(send)
    grant = media.verify(job_id, name, audience, expires, sig)
    if grant is None:
        return await not_found(send)
    now = time.time()
    if grant.expires <= now:
        return await answer(send, 403, "this media link has expired; reload the page for a fresh one")
    found = served_from_memory(scope, grant)
    if found is not None:
        return await stream(send, scope, found, max(0, min(int(grant.expires - now), 3600)))
    found = await media_lookup(scope, Lookups.get(), grant)
    if found is None:
        return await answer(
            send,
            401,
            "sign in, or send your API token (Authorization: Token <key>), to fetch media",
            [(b"www-authenticate", b"Token")],
        )
    if found["storage_name"] is None:
        return await not_found(send)
    remember(found, grant, scope)
    if not found["allowed"]:
        detail = "this media file is for the worker who holds its task" if grant.worker_id else "not your job's file"
        return await answer(send, 403, detail)
    await stream(send, scope, found, max(0, min(int(grant.expires - now), 3600)))


def media_served(app):
    """Wrap the HTTP app: ``/media/...`` is answered here, everything else goes on to ``app``."""

    async def served(scope, receive, send) -> None:
        if is_media_request(scope):
            return await serve_media(scope, receive, send)
        return await app(scope, receive, send)

    return served
