"""The library: one Client per server and token, a typed method per API call."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx

from . import __version__
from .definitions import load_definition
from .errors import (
    AuthenticationError,
    ConnectionFailed,
    JobStopped,
    QuorumError,
    RateLimited,
    ServerError,
    UploadFailed,
    WaitTimeout,
    error_from_response,
    place_text,
)
from .types import Delivery, Job, Progress, Upload, WebhookEndpoint

# Called as (bytes so far, total bytes) while a file is sent or results are written.
BytesCallback = Callable[[int, "int | None"], None]

CHUNK_BYTES = 1024 * 1024
# Transient failures a long wait rides over (a server restarting, a proxy's 502) before it gives up.
WAIT_RETRIES = 5
RESULT_FORMATS = ("csv", "jsonl")


class Client:
    """A Quorum server, as one requester's token sees it.

    ``url`` and ``token`` default to the environment (QUORUM_URL, QUORUM_TOKEN). Use it as a context manager, or
    call close(), to release its connections."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ):
        url = url or os.environ.get("QUORUM_URL")
        token = token if token is not None else os.environ.get("QUORUM_TOKEN")
        if not url:
            raise QuorumError("no server URL: pass url= or set QUORUM_URL (e.g. http://localhost:8000)")
        self.url = url.rstrip("/")
        self.token = token
        headers = {"User-Agent": f"quorum-client/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Token {token}"
        self._http = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
            follow_redirects=False,
        )

    # -- plumbing -------------------------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        what = f"{method} {path}"
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ConnectionFailed(f"{what}: {self.url} did not answer in time ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{what}: cannot reach {self.url} ({exc or type(exc).__name__})") from None
        if response.status_code >= 400:
            raise error_from_response(response.status_code, _body(response), response.headers, what)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return _body(response)

    def _pages(self, path: str, params: dict[str, Any] | None = None, limit: int | None = None) -> Iterator[dict]:
        """Every record of a list, page after page (DRF's {count, next, results}); a bare list is one page."""
        seen = 0
        url: str | None = path
        while url:
            body = self._json("GET", url, params=params)
            params = None  # the next link carries them
            records = body.get("results", []) if isinstance(body, dict) else body or []
            for record in records:
                if limit is not None and seen >= limit:
                    return
                seen += 1
                yield record
            url = body.get("next") if isinstance(body, dict) else None

    # -- tokens ---------------------------------------------------------------------------------------------------

    @staticmethod
    def fetch_token(url: str, username: str, password: str, *, timeout: float = 30.0) -> str:
        """An API token for a username and password (POST /api/auth/token/)."""
        with Client(url, token="", timeout=timeout) as anonymous:
            try:
                body = anonymous._json("POST", "/api/auth/token/", json={"username": username, "password": password})
            except QuorumError as exc:
                if exc.status == 400:
                    raise AuthenticationError(
                        f"POST /api/auth/token/: wrong username or password for {username!r}",
                        status=400,
                        body=exc.body,
                    ) from None
                raise
        return body["token"]

    @classmethod
    def login(cls, url: str, username: str, password: str, **kwargs: Any) -> Client:
        """A Client holding a new token for this username and password."""
        return cls(url, cls.fetch_token(url, username, password), **kwargs)

    def me(self) -> dict[str, Any]:
        return self._json("GET", "/api/me/")

    # -- jobs -----------------------------------------------------------------------------------------------------

    def create_job(self, definition: dict[str, Any] | str | os.PathLike[str]) -> Job:
        """Create a draft job from a dict of settings, or from a YAML or JSON file's path."""
        if not isinstance(definition, dict):
            definition = load_definition(definition)
        return Job.from_dict(self._json("POST", "/api/jobs/", json=definition))

    def get_job(self, job_id: int) -> Job:
        return Job.from_dict(self._json("GET", f"/api/jobs/{int(job_id)}/"))

    def iter_jobs(self, *, limit: int | None = None) -> Iterator[Job]:
        """Your jobs, newest first as the server orders them, a page at a time."""
        for record in self._pages("/api/jobs/", limit=limit):
            yield Job.from_dict(record)

    def list_jobs(self, *, status: str | None = None, limit: int | None = None) -> list[Job]:
        """Your jobs (only those of ``status`` if given; at most ``limit``)."""
        found: list[Job] = []
        for job in self.iter_jobs():
            if limit is not None and len(found) >= limit:
                break
            if status is None or job.status == status:
                found.append(job)
        return found

    def update_job(self, job_id: int, **fields: Any) -> Job:
        return Job.from_dict(self._json("PATCH", f"/api/jobs/{int(job_id)}/", json=fields))

    def delete_job(self, job_id: int) -> None:
        self._json("DELETE", f"/api/jobs/{int(job_id)}/")

    def publish(self, job_id: int) -> Job:
        return Job.from_dict(self._json("POST", f"/api/jobs/{int(job_id)}/publish/"))

    def pause(self, job_id: int) -> Job:
        return Job.from_dict(self._json("POST", f"/api/jobs/{int(job_id)}/pause/"))

    def resume(self, job_id: int) -> Job:
        return Job.from_dict(self._json("POST", f"/api/jobs/{int(job_id)}/resume/"))

    def cancel(self, job_id: int) -> Job:
        return Job.from_dict(self._json("POST", f"/api/jobs/{int(job_id)}/cancel/"))

    def progress(self, job_id: int) -> Progress:
        return Progress.from_dict(self._json("GET", f"/api/jobs/{int(job_id)}/progress/"))

    def wait(
        self,
        job_id: int,
        until: str = "done",
        *,
        timeout: float | None = None,
        poll: float = 2.0,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> Progress:
        """Poll the job's progress until ``until``: "done" (the job is finished and every result written),
        "results" (every item has its result), or another status ("open", "paused", ...).

        Raises JobStopped when the job is cancelled (or still a draft while waiting for it to finish), and
        WaitTimeout after ``timeout`` seconds. A paused job is waited for: it may be resumed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last: Progress | None = None
        while True:
            current = self._poll(lambda: self.progress(job_id), deadline, last)
            if current is not None:
                last = current
                if on_progress is not None:
                    on_progress(current)
                if _reached(current, until):
                    return current
                if current.status == "cancelled" or (current.status == "draft" and until in ("done", "results")):
                    hint = "; publish it first" if current.status == "draft" else ""
                    raise JobStopped(f"job {job_id} is {current.status}{hint}", progress=current)
            _sleep_until_next(poll, deadline, f"job {job_id} did not reach {until!r}", last)

    # -- uploads --------------------------------------------------------------------------------------------------

    def upload(
        self,
        job_id: int,
        path: str | os.PathLike[str],
        *,
        filename: str | None = None,
        progress: BytesCallback | None = None,
        chunk_size: int = CHUNK_BYTES,
    ) -> Upload:
        """Send a data file (CSV, JSON Lines, JSON, or a zip with media) for a job, streamed from disk a chunk at a
        time with its length declared, so the server can refuse a file over its limit before it is sent. Returns
        the accepted upload (status "pending"); wait_upload() waits for its ingest."""
        path = Path(path)
        try:
            size = path.stat().st_size
            handle = path.open("rb")
        except OSError as exc:
            raise QuorumError(f"cannot read {path}: {exc.strerror}") from None
        with handle:
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
            body = _chunks(handle, size, chunk_size, progress)
            record = self._json(
                "POST",
                f"/api/jobs/{int(job_id)}/uploads/",
                params={"filename": filename or path.name},
                content=body,
                headers=headers,
            )
        return Upload.from_dict(record)

    def get_upload(self, upload_id: int) -> Upload:
        return Upload.from_dict(self._json("GET", f"/api/uploads/{int(upload_id)}/"))

    def list_uploads(self, job_id: int) -> list[Upload]:
        return [Upload.from_dict(record) for record in self._json("GET", f"/api/jobs/{int(job_id)}/uploads/")]

    def wait_upload(
        self,
        upload: int | Upload,
        *,
        timeout: float | None = None,
        poll: float = 0.5,
        on_progress: Callable[[Upload], None] | None = None,
    ) -> Upload:
        """Wait for an upload's ingest to end. Returns the done upload; raises UploadFailed, naming the file, line
        and field the server found wrong, when the data was refused (and nothing of it stored)."""
        upload_id = upload.id if isinstance(upload, Upload) else int(upload)
        deadline = None if timeout is None else time.monotonic() + timeout
        last: Upload | None = None
        while True:
            current = self._poll(lambda: self.get_upload(upload_id), deadline, last)
            if current is not None:
                last = current
                if on_progress is not None:
                    on_progress(current)
                if current.status == "done":
                    return current
                if current.status == "failed":
                    raise _upload_failed(current)
            _sleep_until_next(poll, deadline, f"upload {upload_id} did not finish", last)

    # -- results --------------------------------------------------------------------------------------------------

    def download_results(
        self,
        job_id: int,
        path: str | os.PathLike[str] | IO[bytes],
        format: str = "csv",
        *,
        spreadsheet: bool = False,
        progress: BytesCallback | None = None,
    ) -> int:
        """Write the job's results (``format`` "csv" or "jsonl") to a path or a binary file, streamed as the
        server sends them. A path is written beside itself and renamed at the end, so it never holds half a
        download. Returns the bytes written."""
        if format not in RESULT_FORMATS:
            raise ValueError(f"format is one of {', '.join(RESULT_FORMATS)}, not {format!r}")
        params = {"format": format}
        if spreadsheet:
            params["spreadsheet"] = "1"
        if hasattr(path, "write"):
            return self._stream_to(f"/api/jobs/{int(job_id)}/export/", params, path, progress)  # type: ignore[arg-type]
        target = Path(path)  # type: ignore[arg-type]
        partial = target.with_name(f".{target.name}.part")
        try:
            with partial.open("wb") as out:
                written = self._stream_to(f"/api/jobs/{int(job_id)}/export/", params, out, progress)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return written

    def _stream_to(self, path: str, params: dict, out: IO[bytes], progress: BytesCallback | None) -> int:
        what = f"GET {path}"
        written = 0
        try:
            with self._http.stream("GET", path, params=params, headers={"Accept": "*/*"}) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response.status_code, _body(response), response.headers, what)
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    written += len(chunk)
                    if progress is not None:
                        progress(written, None)
        except httpx.TransportError as exc:
            raise ConnectionFailed(
                f"{what}: the download from {self.url} broke off ({exc or type(exc).__name__})"
            ) from None
        return written

    # -- webhooks -------------------------------------------------------------------------------------------------

    def list_webhooks(self) -> list[WebhookEndpoint]:
        return [WebhookEndpoint.from_dict(record) for record in self._pages("/api/webhooks/")]

    def create_webhook(
        self,
        url: str,
        events: list[str],
        *,
        job: int | None = None,
        secret: str | None = None,
        active: bool = True,
        batch_size: int | None = None,
        batch_seconds: float | None = None,
    ) -> WebhookEndpoint:
        """A new endpoint; its ``secret`` (for checking X-Quorum-Signature) is in this answer only."""
        body: dict[str, Any] = {"url": url, "events": list(events), "job": job, "active": active}
        if secret is not None:
            body["secret"] = secret
        if batch_size is not None:
            body["batch_size"] = batch_size
        if batch_seconds is not None:
            body["batch_seconds"] = batch_seconds
        return WebhookEndpoint.from_dict(self._json("POST", "/api/webhooks/", json=body))

    def get_webhook(self, endpoint_id: int) -> WebhookEndpoint:
        return WebhookEndpoint.from_dict(self._json("GET", f"/api/webhooks/{int(endpoint_id)}/"))

    def update_webhook(self, endpoint_id: int, **fields: Any) -> WebhookEndpoint:
        return WebhookEndpoint.from_dict(self._json("PATCH", f"/api/webhooks/{int(endpoint_id)}/", json=fields))

    def delete_webhook(self, endpoint_id: int) -> None:
        self._json("DELETE", f"/api/webhooks/{int(endpoint_id)}/")

    def deliveries(
        self, endpoint_id: int, *, status: str | None = None, job: int | None = None, limit: int | None = None
    ) -> list[Delivery]:
        """An endpoint's deliveries, newest first as the server orders them (every page, or ``limit`` of them)."""
        params = {key: value for key, value in {"status": status, "job": job}.items() if value is not None}
        pages = self._pages(f"/api/webhooks/{int(endpoint_id)}/deliveries/", params or None, limit)
        return [Delivery.from_dict(record) for record in pages]

    def resend(self, delivery_id: int) -> Delivery:
        """Queue a delivery again (its attempts are kept; its status is pending again)."""
        return Delivery.from_dict(self._json("POST", f"/api/webhooks/deliveries/{int(delivery_id)}/resend/"))

    # -- waiting --------------------------------------------------------------------------------------------------

    def _poll(self, read: Callable[[], Any], deadline: float | None, last: Any) -> Any:
        """One read of a wait loop. A 429 waits as the server asks; a server restarting or unreachable is tried
        again up to WAIT_RETRIES times in a row; anything else is raised."""
        failures = 0
        while True:
            try:
                return read()
            except RateLimited as exc:
                delay = exc.retry_after if exc.retry_after is not None else 5.0
            except (ConnectionFailed, ServerError):
                failures += 1
                if failures > WAIT_RETRIES:
                    raise
                delay = min(2.0**failures, 30.0)
            if deadline is not None and time.monotonic() + delay > deadline:
                return None  # the caller's deadline check reports the timeout with what it saw last
            time.sleep(delay)


def _reached(progress: Progress, until: str) -> bool:
    if until == "results":
        return progress.status == "done" or (progress.items > 0 and progress.results >= progress.items)
    return progress.status == until


def _sleep_until_next(poll: float, deadline: float | None, message: str, last: Any) -> None:
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimeout(f"{message} in time", last=last)
        time.sleep(min(poll, left))
    else:
        time.sleep(poll)


def _chunks(handle: IO[bytes], size: int, chunk_size: int, progress: BytesCallback | None) -> Iterator[bytes]:
    sent = 0
    if progress is not None:
        progress(0, size)
    while sent < size:
        chunk = handle.read(min(chunk_size, size - sent))
        if not chunk:
            break  # the file shrank while it was sent; the server sees a short body and refuses it
        sent += len(chunk)
        yield chunk
        if progress is not None:
            progress(sent, size)


def _upload_failed(upload: Upload) -> UploadFailed:
    error = upload.error or {}
    file, line, field = error.get("file") or upload.filename, error.get("line"), error.get("field")
    where = place_text(file, line, field)
    text = error.get("message") or "the ingest failed"
    return UploadFailed(
        f"upload {upload.id} failed: {where}: {text}" if where else f"upload {upload.id} failed: {text}",
        upload=upload,
        body=upload.raw,
        file=file,
        line=line,
        field=field,
    )


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        text = response.text.strip()
        return {"detail": text[:300]} if text else {}
