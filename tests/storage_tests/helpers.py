"""Helpers of the storage tests."""


def keys(s3_server, bucket: str, prefix: str = "") -> list[str]:
    reply = s3_server.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in reply.get("Contents", []))


def location(s3_server, bucket: str, prefix: str, **changes) -> dict:
    """The API's fields for a bucket location."""
    fields = {
        "endpoint_url": s3_server.url,
        "region": "us-east-1",
        "bucket": bucket,
        "prefix": prefix,
        "access_key_id": s3_server.access_key_id,
        "secret": s3_server.secret,
    }
    fields.update(changes)
    return fields
