"""A real S3-compatible server for tests: moto's server mode in a process of its own, on a free loopback port, with
IAM checks on (the first three requests create the one user whose keys the tests use; every later request must be
signed with them), so wrong keys are refused as a real bucket refuses them. The session fixture ``s3_server``
(tests/conftest.py) runs one for every test that asks for it."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
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


@contextlib.contextmanager
def running_s3_server() -> Iterator[S3Server]:
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
