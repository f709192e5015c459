"""Fixtures of the storage tests: the S3-compatible server (``s3_server``, tests/s3.py), a fresh bucket per test,
and the deployment's storage switched to it."""

import uuid

import pytest
from botocore.config import Config


@pytest.fixture
def bucket(s3_server):
    """A fresh, empty bucket: its name."""
    name = f"quorum-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


@pytest.fixture(autouse=True)
def _bucket_settings(settings, tmp_path, s3_server):
    settings.MEDIA_ROOT = tmp_path / "media-root"
    settings.QUORUM_BUCKET_ENDPOINTS = [s3_server.url]


@pytest.fixture
def s3_storage(settings, s3_server, bucket):
    """This deployment keeps media and upload files in ``bucket`` (QUORUM_STORAGE=s3): the settings that
    quorum/settings.py builds from the environment."""
    settings.QUORUM_STORAGE = "s3"
    settings.AWS_S3_ENDPOINT_URL = s3_server.url
    settings.STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": s3_server.url,
                "region_name": "us-east-1",
                "access_key": s3_server.access_key_id,
                "secret_key": s3_server.secret,
                "default_acl": None,
                "file_overwrite": True,
                "max_memory_size": 1024 * 1024,
                "client_config": Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}),
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    return bucket
