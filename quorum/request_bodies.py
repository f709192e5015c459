"""Request bodies are checked before they are read: their size on every route, and on the upload route who sends
them.

Django's ASGIHandler reads a whole request body into a temporary file before any middleware or view runs, so a
limit checked in a view came after gigabytes had reached the disk, from anyone, on any URL. This wraps the HTTP
app instead:

- every route takes at most ``QUORUM_MAX_REQUEST_BYTES``; ``POST /api/jobs/<id>/uploads/`` and
  ``POST /api/jobs/<id>/media/`` take up to ``QUORUM_MAX_UPLOAD_BYTES`` plus room for multipart framing, and only
  from the job's requester or staff, by a valid API token or session (one SQL round trip on the event loop, as a
  socket's handshake does: ``workers.lookups``): anyone else gets 401;
- a declared ``Content-Length`` over the limit gets 413 at once, before a byte of the body is read;
- a chunked body (no ``Content-Length``) is counted as it arrives and cut with 413 at the limit; one within the
  limit is spooled and handed to Django with its ``Content-Length``, since Django reads a body without one as
  empty.

Refusals close the connection: the client may still be sending a body nobody will read.
"""

import logging
import tempfile
from collections.abc import Awaitable, Callable

from django.conf import settings
from django.http import parse_cookie
from django.urls import Resolver404, resolve

from quorum.asgi_replies import send_json

log = logging.getLogger(__name__)

# Room for multipart boundaries and part headers when a request's size is compared with the file limit.
MULTIPART_OVERHEAD = 64 * 1024
# Routes that take files: the data (and archives), and media files.
UPLOAD_ROUTES = ("job-uploads", "job-media")
CHUNK = 64 * 1024

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def upload_body_limit() -> int:
    """The largest request body the upload route accepts: the file limit plus multipart framing."""
    return settings.QUORUM_MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD


def upload_job_id(scope: Scope) -> int | None:
    """The job a ``POST /api/jobs/<id>/uploads/`` (or ``/media/``) sends its files to; None for any other request."""
    if scope["method"] != "POST":
        return None
    path = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    try:
        match = resolve(path)
    except Resolver404:
        return None
    if match.url_name not in UPLOAD_ROUTES:
        return None
    try:
        return int(match.kwargs.get("pk"))
    except (TypeError, ValueError):
        return 0  # the upload route, for no job that can exist: refused like any other


def is_upload(scope: Scope) -> bool:
    return upload_job_id(scope) is not None


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


async def caller_may_upload(scope: Scope) -> bool:
    """A valid ``Authorization: Token`` header or session cookie (database sessions) of the job's requester, or
    of staff: anyone else (a worker who signed up a minute ago included) never gets to send a large body. The
    reads are the socket handshake's (``workers.lookups``): one round trip each, on the event loop."""
    from workers.lookups import Lookups

    lookups = Lookups.get()
    authorization = header(scope, b"authorization") or b""
    user_id = None
    if authorization.lower().startswith(b"token "):
        user = await lookups.user_for_token(authorization[6:].decode("latin-1").strip())
        user_id = user.pk if user is not None else None
    else:
        cookie = header(scope, b"cookie")
        if cookie is not None and settings.SESSION_ENGINE == "django.contrib.sessions.backends.db":
            session_key = parse_cookie(cookie.decode("latin-1")).get(settings.SESSION_COOKIE_NAME)
            if session_key:
                user_id = await lookups.user_for_session(session_key)
    return user_id is not None and await lookups.may_upload_to(user_id, upload_job_id(scope))


async def refuse(send: Send, status: int, body: dict, extra_headers: list[tuple[bytes, bytes]] = ()) -> None:
    # The rest of the body is never read: the connection cannot carry another request.
    await send_json(send, status, body, [(b"connection", b"close"), *extra_headers])


async def refuse_too_large(send: Send, scope: Scope, limit: int, upload: bool) -> None:
    if upload:
        # The upload view's own 413, so a client sees one shape whichever check caught the file.
        from urllib.parse import parse_qs

        from tasks.intake import UploadTooLarge

        limit = settings.QUORUM_MAX_UPLOAD_BYTES
        filename = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("filename") or [""])[0]
        too_large = UploadTooLarge(f"the file is larger than the limit of {limit} bytes", file=filename)
        body = {"detail": str(too_large), "error": {**too_large.as_dict(), "limit_bytes": limit}}
    else:
        detail = f"the request body is larger than the limit of {limit} bytes (QUORUM_MAX_REQUEST_BYTES)"
        body = {"detail": detail, "error": {"message": detail, "limit_bytes": limit}}
    await refuse(send, 413, body)


async def spool_chunked(receive: Receive, limit: int) -> tuple[tempfile.SpooledTemporaryFile, int] | int | None:
    """Read a body without a Content-Length to a temporary file: (file, size); its size so far once it passes
    the limit; None if the client went away."""
    spool = tempfile.SpooledTemporaryFile(
        max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, dir=settings.FILE_UPLOAD_TEMP_DIR
    )
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            spool.close()
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            spool.close()
            return size
        spool.write(chunk)
        if not message.get("more_body", False):
            spool.seek(0)
            return spool, size


def replay(spool: tempfile.SpooledTemporaryFile, receive: Receive) -> Receive:
    """A receive that gives the spooled body, then whatever the client sends next (its disconnect)."""
    done = False

    async def replayed() -> dict:
        nonlocal done
        if done:
            return await receive()
        chunk = spool.read(CHUNK)
        more = spool.tell() < spool_size
        if not more:
            done = True
            spool.close()
        return {"type": "http.request", "body": chunk, "more_body": more}

    spool.seek(0, 2)
    spool_size = spool.tell()
    spool.seek(0)
    return replayed


def body_checked(app):
    """Wrap the HTTP app: see the module docstring."""

    async def checked(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        upload = is_upload(scope)
        limit = upload_body_limit() if upload else settings.QUORUM_MAX_REQUEST_BYTES
        if upload and not await caller_may_upload(scope):
            return await refuse(
                send,
                401,
                {
                    "detail": "log in as the job's requester, or send their API token (Authorization: Token <key>), to upload"
                },
                [(b"www-authenticate", b"Token")],
            )
        declared = header(scope, b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                return await refuse(send, 400, {"detail": "the Content-Length header is not a number"})
            if length > limit:
                return await refuse_too_large(send, scope, limit, upload)
            return await app(scope, receive, send)
        if header(scope, b"transfer-encoding") is None:
            return await app(scope, receive, send)  # no body at all
        spooled = await spool_chunked(receive, limit)
        if spooled is None:
            return None
        if isinstance(spooled, int):
            return await refuse_too_large(send, scope, limit, upload)
        spool, size = spooled
        headers = [(k, v) for k, v in scope["headers"] if k != b"transfer-encoding"]
        headers.append((b"content-length", str(size).encode()))
        return await app({**scope, "headers": headers}, replay(spool, receive), send)

    return checked
