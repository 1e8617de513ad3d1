"""AWS clients, made on first use so importing the app makes no client and no call.

The cache is keyed by the endpoint in force, so a client made against one
emulator is never reused against another (tests start several).
"""
import os
from functools import lru_cache

import boto3


@lru_cache(maxsize=None)
def _client(service: str, endpoint: str, region: str):
    return boto3.client(service, endpoint_url=endpoint or None, region_name=region or None)


def client(service: str):
    return _client(service, os.environ.get("AWS_ENDPOINT_URL", ""), os.environ.get("AWS_DEFAULT_REGION", ""))


@lru_cache(maxsize=None)
def _connection(endpoint: str, region: str):
    from pynamodb.connection import Connection

    return Connection(region=region or None)


def dynamodb_connection():
    """The pynamodb connection that transactions run on (one per endpoint, not per transaction)."""
    return _connection(os.environ.get("AWS_ENDPOINT_URL", ""), os.environ.get("AWS_DEFAULT_REGION", ""))


def reset_clients() -> None:
    _client.cache_clear()
    _connection.cache_clear()
    from chalicelib.core.models import ALL_MODELS

    for model in ALL_MODELS:
        model._connection = None
