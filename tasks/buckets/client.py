"""Talking to a requester's bucket: one client per location, every error a sentence a requester can act on."""

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

# What a bucket answers when the keys are wrong or do not reach this bucket or prefix.
DENIED_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "InvalidClientTokenId",
    "AllAccessDisabled",
    "403",
}


class BucketError(Exception):
    """A bucket could not be used; the message names the bucket, prefix or key and what to do."""

    def __init__(self, message: str, *, key: str = ""):
        super().__init__(message)
        self.message = message
        self.key = key

    def as_dict(self) -> dict:
        return {"file": self.key, "line": None, "field": None, "message": self.message}


# --- the secret ---------------------------------------------------------------------------------------------------


def _fernet():
    from cryptography.fernet import Fernet

    digest = hashlib.sha256(b"quorum.bucket-secret:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def secret_seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def secret_open(sealed: str) -> str:
    from cryptography.fernet import InvalidToken

    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise BucketError(
            "the stored secret cannot be read (the installation's SECRET_KEY changed); send the credentials again"
        ) from None


# --- where a client may connect -------------------------------------------------------------------------------------


def endpoint_origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an endpoint URL that is only that (no path, query or user), else None."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def allowed_endpoints() -> set[str]:
    allowed = {o for o in (endpoint_origin(e) for e in settings.QUORUM_BUCKET_ENDPOINTS) if o}
    own = getattr(settings, "AWS_S3_ENDPOINT_URL", None)
    if own and (origin := endpoint_origin(own)):
        allowed.add(origin)
    return allowed


def endpoint_problem(url: str) -> str | None:
    """Why a requester may not name this endpoint, or None. Empty means AWS S3 itself."""
    if not url:
        return None
    origin = endpoint_origin(url)
    if origin is None:
        return "the endpoint is an http(s) URL of a host (and port), like https://s3.example.org, with no path"
    if origin not in allowed_endpoints():
        return (
            f"the endpoint {origin} is not one this installation may connect to; "
            "an operator can add it to QUORUM_BUCKET_ENDPOINTS"
        )
    return None


# --- the client -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Where to connect and with what: read from a BucketLocation row."""

    endpoint_url: str
    region: str
    bucket: str
    prefix: str
    access_key_id: str
    secret: str

    @classmethod
    def of(cls, location) -> "Place":
        return cls(
            location.endpoint_url,
            location.region,
            location.bucket,
            location.prefix,
            location.access_key_id,
            secret_open(location.secret_encrypted),
        )

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def where(self) -> str:
        return self.endpoint_url or "AWS S3"


def client_for(place: Place):
    import boto3
    from botocore.config import Config

    if problem := endpoint_problem(place.endpoint_url):
        raise BucketError(problem)  # the setting changed since the location was saved
    config = Config(
        connect_timeout=settings.QUORUM_S3_CONNECT_TIMEOUT,
        read_timeout=settings.QUORUM_S3_READ_TIMEOUT,
        retries={"max_attempts": settings.QUORUM_S3_MAX_ATTEMPTS, "mode": "standard"},
        signature_version="s3v4",
    )
    # A session of its own: boto3's default session would also read this process's AWS_* environment.
    session = boto3.session.Session(
        aws_access_key_id=place.access_key_id,
        aws_secret_access_key=place.secret,
        region_name=place.region or "us-east-1",
    )
    return session.client("s3", endpoint_url=place.endpoint_url or None, config=config)


def is_boto_error(exc: BaseException) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, (BotoCoreError, ClientError))


def error_code(exc) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def describe(exc: Exception, place: Place, key: str | None = None) -> BucketError:
    """A boto3 error as a BucketError naming what failed: the whole location when the bucket or the keys are the
    problem, else the object (``cannot read s3://bucket/key: ...``)."""
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(exc, BucketError):
        return exc
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message") or code
        if code == "NoSuchBucket":
            return BucketError(f"no bucket named '{place.bucket}' at {place.where()}")
        if code in DENIED_CODES and key is None:
            return BucketError(f"access denied for {place.url}: check the access key and secret ({code})")
        if key is not None:
            return BucketError(f"cannot read s3://{place.bucket}/{key}: {message} ({code})", key=key)
        return BucketError(f"{place.url}: {message} ({code})")
    if isinstance(exc, NoCredentialsError):
        return BucketError(f"access denied for {place.url}: no access key was given")
    if isinstance(exc, (ConnectionError, ReadTimeoutError)):
        target = f"s3://{place.bucket}/{key}" if key else place.url
        return BucketError(f"cannot reach {place.where()} for {target}: {exc}", key=key or "")
    target = f"cannot read s3://{place.bucket}/{key}" if key else f"{place.url}"
    return BucketError(f"{target}: {exc}", key=key or "")


@dataclass(frozen=True)
class Listed:
    key: str
    size: int

    def relative(self, prefix: str) -> str:
        """The key after the prefix (a prefix named without its trailing '/' leaves none in front)."""
        return self.key[len(prefix) :].lstrip("/")


def objects_under(client, place: Place, limit: int) -> list[Listed]:
    """The objects under the prefix, in key order (folders' placeholder keys left out); BucketError past
    ``limit`` or when the bucket refuses."""
    found: list[Listed] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=place.bucket, Prefix=place.prefix):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith("/"):
                    continue
                found.append(Listed(obj["Key"], int(obj.get("Size", 0))))
                if len(found) > limit:
                    raise BucketError(
                        f"more than {limit} objects under {place.url}; import a narrower prefix "
                        "(QUORUM_BUCKET_MAX_FILES)"
                    )
    except Exception as exc:
        raise describe(exc, place) from None
    return sorted(found, key=lambda o: o.key)


def object_download(client, place: Place, key: str, out) -> None:
    """Write one object to ``out`` in ranged parts (8 MiB, four at a time: about 40 MiB in flight whatever the
    object's size), never whole in memory."""
    from boto3.s3.transfer import TransferConfig

    try:
        client.download_fileobj(place.bucket, key, out, Config=TransferConfig(max_concurrency=4))
    except Exception as exc:
        raise describe(exc, place, key) from None


class ObjectBody:
    """An object's bytes as a file-like stream (what media.store_bytes reads), its errors named by key."""

    def __init__(self, client, place: Place, key: str):
        self.place = place
        self.key = key
        try:
            self.body = client.get_object(Bucket=place.bucket, Key=key)["Body"]
        except Exception as exc:
            raise describe(exc, place, key) from None

    def read(self, n: int = -1) -> bytes:
        try:
            return self.body.read(n if n and n > 0 else 1 << 20)
        except Exception as exc:
            raise describe(exc, self.place, self.key) from None

    def close(self) -> None:
        self.body.close()


PART_BYTES = 8 * 1024 * 1024  # S3 takes parts of 5 MiB and more (but the last)


def multipart_write(
    client, place: Place, key: str, chunks: Iterator[bytes], content_type: str, on_part=lambda: None
) -> int:
    """Write ``chunks`` to one object as a multipart upload, one part (8 MiB) in memory at a time. On any failure
    the upload is aborted, so no part is left in the bucket. Returns the bytes written."""
    try:
        started = client.create_multipart_upload(Bucket=place.bucket, Key=key, ContentType=content_type)
    except Exception as exc:
        raise describe(exc, place) from None
    upload_id = started["UploadId"]
    parts: list[dict] = []
    size = 0
    buffer = bytearray()

    def send_part() -> None:
        number = len(parts) + 1
        reply = client.upload_part(
            Bucket=place.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=bytes(buffer)
        )
        parts.append({"PartNumber": number, "ETag": reply["ETag"]})
        buffer.clear()
        on_part()

    try:
        for chunk in chunks:
            buffer += chunk
            size += len(chunk)
            if len(buffer) >= PART_BYTES:
                send_part()
        if buffer or not parts:
            send_part()
        client.complete_multipart_upload(
            Bucket=place.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException as exc:
        try:
            client.abort_multipart_upload(Bucket=place.bucket, Key=key, UploadId=upload_id)
        except Exception:  # the bucket's lifecycle rules clear what this could not
            pass
        if is_boto_error(exc):
            raise describe(exc, place) from None
        raise
    return size
