"""A real S3-compatible server for these tests: moto's server mode in a process of its own, on a free loopback port,
with IAM checks on (the first three requests create the one user whose keys the tests use; every later request
must be signed with them), so wrong keys are refused as a real bucket refuses them."""

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import boto3
import pytest
from botocore.config import Config

# The requests moto serves before it starts checking keys: create the user, its key, its policy.
SETUP_REQUESTS = 3


@dataclass
class S3Server:
    url: str
    access_key_id: str
    secret: str

    def client(self, secret: str | None = None):
        return boto3.session.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=secret or self.secret,
            region_name="us-east-1",
        ).client("s3", endpoint_url=self.url, config=Config(retries={"max_attempts": 1}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    port = free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(SETUP_REQUESTS))
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the S3 server did not start") from None
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}"
        iam = boto3.client(
            "iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup"
        )
        iam.create_user(UserName="quorum")
        key = iam.create_access_key(UserName="quorum")["AccessKey"]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="quorum", PolicyName="s3", PolicyDocument=json.dumps(policy))
        yield S3Server(url, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        process.terminate()
        process.wait(10)


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
