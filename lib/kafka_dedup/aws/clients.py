"""boto3 clients from the standard AWS credential chain, and AWS errors as one-line UserErrors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
)

from kafka_dedup.config import AwsConfig, ConfigError
from kafka_dedup.errors import UserError

S3_URI_RE = re.compile(r"^s3a?://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(?P<key>.*))?$")
# Standard retries with a few attempts: transient throttling is retried, a wrong setting fails fast.
RETRIES = BotoConfig(retries={"max_attempts": 4, "mode": "standard"})


class AwsError(UserError):
    """An AWS call failed for a reason the user can fix (credentials, region, permissions...)."""


def session(aws: AwsConfig) -> boto3.session.Session:
    """A boto3 session: credentials only from the standard chain, region from [aws] or the chain."""
    return boto3.session.Session(region_name=aws.region or None)


def client(aws: AwsConfig, service: str) -> Any:
    """A client for service, pointed at aws.endpoint_url when set (a local emulator)."""
    with aws_errors(f"creating the {service} client"):
        return session(aws).client(service, endpoint_url=aws.endpoint_url or None, config=RETRIES)


@contextmanager
def aws_errors(doing: str) -> Iterator[None]:
    """Turn botocore's exceptions into one-line AwsErrors that say what was being done."""
    try:
        yield
    except NoCredentialsError:
        raise AwsError(
            f"{doing}: no AWS credentials found; configure the standard chain (AWS_PROFILE, "
            "`aws sso login`, or environment variables) and retry"
        ) from None
    except NoRegionError:
        raise AwsError(
            f"{doing}: no AWS region; set [aws] region, KAFKA_DEDUP_AWS__REGION or AWS_REGION"
        ) from None
    except EndpointConnectionError as exc:
        raise AwsError(f"{doing}: cannot reach {exc.kwargs.get('endpoint_url')}") from None
    except ParamValidationError as exc:
        raise AwsError(f"{doing}: invalid request: {one_line(str(exc))}") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise AwsError(
            f"{doing}: {error.get('Code', 'error')}: {one_line(error.get('Message', str(exc)))}"
        ) from None
    except BotoCoreError as exc:
        raise AwsError(f"{doing}: {one_line(str(exc))}") from None


def one_line(text: str) -> str:
    return " ".join(text.split())


def split_s3_uri(uri: str, key_name: str = "value") -> tuple[str, str]:
    """(bucket, key prefix without slashes at the ends) of s3://bucket/prefix or s3a://..."""
    match = S3_URI_RE.match(uri.strip())
    if not match:
        raise ConfigError(f"{key_name} = {uri!r}: expected an S3 URI like s3://bucket/prefix")
    return match["bucket"], (match["key"] or "").strip("/")
