"""Fixtures of the flow tests: small data, a program library, a local S3."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.flows.helpers import quick_programs


@pytest.fixture(scope="session")
def small_demo_csv(tmp_path_factory) -> Path:
    """600 demo tickets (train, valid, test), a few shards each at 200 rows per shard."""
    from alchemist_core.data.demo import make_demo_dataset

    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "tickets.csv", n_rows=600, seed=3)


@pytest.fixture
def quick_library(tmp_path) -> Path:
    """A copy of the test programs without the one that loops (it may be edited by the test)."""
    return quick_programs(tmp_path / "library")


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 on 127.0.0.1 (a free port) with the bucket ``alchemist-test``; yields the endpoint URL."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # Created with boto3: s3fs would send a us-east-1 location constraint, which S3 rejects.
    boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).create_bucket(Bucket="alchemist-test")
    yield endpoint
    server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """The usual AWS environment pointing at the local S3."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    import fsspec

    fsspec.filesystem("s3").clear_instance_cache()
    return s3_server
