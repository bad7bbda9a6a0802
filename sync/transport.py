"""S3 transport: create-only writes, bounded exponential backoff with jitter, proxy and CA.

Object keys hold only the clinic id, the device id and the sequence number:

    v2/<clinic>/dev/<device>/<seq:012d>.nmb     change bundles
    v2/<clinic>/snap/<device>/<seq:012d>.nms    snapshots
    v2/<clinic>/registry/<seq:012d>.nmr         IT's device registry (sync.registry)
    v2/<clinic>/feed/<ms:013d>/<device>/<seq:012d>.nmf   empty marker: "this bundle exists"

Writes use `If-None-Match: *`, so a retry after a crash can never overwrite anything. Each
write carries its SHA-256 (`ChecksumSHA256`, checked by S3 on arrival); when the server
answers 412 because the object is already there, the stored object's SHA-256 decides whether
it is ours. (The ETag is not an MD5 of the bytes under SSE-KMS, so it cannot decide that.)
Downloads are capped: a body larger than the caller's limit is refused unread.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError
    from types_boto3_s3.type_defs import (  # types-boto3 (a development requirement) only
        ListObjectsV2OutputTypeDef,
    )


# boto3 and botocore cost ~17 MB and ~0.1 s: imported when a transport is made (a sync runs),
# not when the desktop signs in. An except clause names its class only once an exception is
# raised, and any exception of theirs comes from a transport, so these never import early.
def _client_error() -> type[ClientError]:
    from botocore.exceptions import ClientError

    return ClientError


def _botocore_error() -> type[BotoCoreError]:
    from botocore.exceptions import BotoCoreError

    return BotoCoreError


log = logging.getLogger(__name__)
T = TypeVar("T")
RETRYABLE_CODES = {
    "500",
    "502",
    "503",
    "504",
    "SlowDown",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    "Throttling",
    "ThrottlingException",
}


class TransportError(Exception):
    """The bucket could not be reached or refused a request (after retries)."""


class MissingError(TransportError):
    """The object is not in the bucket."""


class TooLargeError(TransportError):
    """An object is larger than the download cap; it was not read."""

    def __init__(self, key: str, size: int, cap: int) -> None:
        super().__init__(f"object is {size} bytes, over the download cap of {cap}")
        self.key, self.size = key, size


@dataclass(frozen=True)
class Endpoint:
    """Where the bucket is and how to reach it (from IT policy: endpoint, proxy, CA bundle)."""

    bucket: str
    region: str = "us-east-1"
    endpoint_url: str = ""
    proxy: str = ""
    ca_bundle: str = ""
    access_key: str = ""
    secret_key: str = ""
    role_arn: str = ""  # assumed with the device's session tag (IAM's per-device prefixes)
    device_tag: str = ""  # this workstation's device id, the `novamind-device` session tag


DEVICE_TAG = "novamind-device"


LAYOUT = "v2"


def devices_prefix(clinic: str) -> str:
    return f"{LAYOUT}/{clinic}/dev/"


def device_prefix(clinic: str, device: str) -> str:
    return f"{devices_prefix(clinic)}{device}/"


def snapshots_prefix(clinic: str) -> str:
    return f"{LAYOUT}/{clinic}/snap/"


def bundle_key(clinic: str, device: str, seq: int) -> str:
    return f"{device_prefix(clinic, device)}{seq:012d}.nmb"


def snapshot_key(clinic: str, device: str, seq: int) -> str:
    return f"{snapshots_prefix(clinic)}{device}/{seq:012d}.nms"


def feed_prefix(clinic: str) -> str:
    return f"{LAYOUT}/{clinic}/feed/"


def feed_key(clinic: str, ms: int, device: str, seq: int) -> str:
    return f"{feed_prefix(clinic)}{ms:013d}/{device}/{seq:012d}.nmf"


def parse_feed_key(key: str) -> tuple[int, str, int]:
    """(milliseconds, device, seq) of a feed marker; ValueError when the key is not one.

    Exactly three segments after `feed/`: IAM's `feed/*/<own device>/*` also matches deeper
    keys, which must not be read as another device's marker.
    """
    parts = key.split("/")
    if len(parts) != 6 or parts[2] != "feed":
        raise ValueError("not a feed marker")
    ms, device, last = parts[3:]
    if len(ms) != 13 or not ms.isdigit() or not last.endswith(".nmf"):
        raise ValueError("not a feed marker")
    return int(ms), device, parse_seq(last)


def sha256_b64(data: bytes) -> str:
    """The SHA-256 of `data` as S3's ChecksumSHA256 header writes it (base64)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def parse_seq(key: str) -> int:
    """The sequence number in an object key; ValueError when the key is not ours."""
    stem = key.rsplit("/", 1)[-1].split(".", 1)[0]
    if len(stem) != 12 or not stem.isdigit():
        raise ValueError("not a bundle key")
    return int(stem)


class Transport:
    """S3 (and EventBridge) clients for one bucket, with retries we control."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        attempts: int = 5,
        base_delay: float = 0.2,
        max_delay: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = endpoint
        self.attempts, self.base_delay, self.max_delay = attempts, base_delay, max_delay
        self._sleep = sleep
        import boto3
        from botocore.config import Config

        config = Config(
            region_name=endpoint.region,
            retries={"total_max_attempts": 1},
            proxies={"http": endpoint.proxy, "https": endpoint.proxy} if endpoint.proxy else None,
            connect_timeout=10,
            read_timeout=60,
            s3={"addressing_style": "path"},
        )
        kwargs: dict[str, Any] = {"config": config}
        if endpoint.endpoint_url:
            kwargs["endpoint_url"] = endpoint.endpoint_url
        if endpoint.ca_bundle:
            kwargs["verify"] = endpoint.ca_bundle
        if endpoint.access_key:
            kwargs["aws_access_key_id"] = endpoint.access_key
            kwargs["aws_secret_access_key"] = endpoint.secret_key
        session = boto3.session.Session()
        if endpoint.role_arn:
            kwargs.update(self._assume_role(session, kwargs))
        self.s3 = session.client("s3", **kwargs)
        self.events = session.client("events", **kwargs)

    def _assume_role(
        self, session: boto3.session.Session, kwargs: dict[str, Any]
    ) -> dict[str, str]:
        """Temporary credentials of the workstation role, tagged with this device's id.

        The role's policy names `${aws:PrincipalTag/novamind-device}` in the object keys it
        may write, so the bucket itself refuses a write under another device's prefix. The
        credentials last an hour; a Transport is made for each sync cycle.
        """
        if not self.endpoint.device_tag:
            raise TransportError("a sync role is configured but this workstation has no device id")
        sts = session.client("sts", **kwargs)
        out = self._retry(
            "assume role",
            lambda: sts.assume_role(
                RoleArn=self.endpoint.role_arn,
                RoleSessionName=f"novamind-{self.endpoint.device_tag[:8]}",
                Tags=[{"Key": DEVICE_TAG, "Value": self.endpoint.device_tag}],
                DurationSeconds=3600,
            ),
        )
        c = out["Credentials"]
        return {
            "aws_access_key_id": c["AccessKeyId"],
            "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"],
        }

    def _retry(self, what: str, fn: Callable[[], T]) -> T:
        """Run `fn`, retrying transient failures with capped exponential backoff + full jitter."""
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except _client_error() as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
                if code not in RETRYABLE_CODES and status not in RETRYABLE_CODES:
                    raise
                reason = code or status
            except _botocore_error() as exc:
                reason = type(exc).__name__
            if attempt == self.attempts:
                raise TransportError(f"{what} failed after {attempt} attempts ({reason})")
            delay = random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))  # noqa: S311  # nosec B311
            log.info("sync: %s failed (%s), retry %d in %.2fs", what, reason, attempt, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")

    def put_create_only(self, key: str, data: bytes) -> bool:
        """Create the object; True if written now, False if it was already there with our bytes."""
        checksum = sha256_b64(data)
        try:
            self._retry(
                "upload",
                lambda: self.s3.put_object(
                    Bucket=self.endpoint.bucket,
                    Key=key,
                    Body=data,
                    IfNoneMatch="*",
                    ContentType="application/octet-stream",
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=checksum,
                ),
            )
            return True
        except _client_error() as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in {"PreconditionFailed", "412", "ConditionalRequestConflict"}:
                raise TransportError(f"upload refused ({code})") from None
        if self.stored_sha256(key) != checksum:
            raise TransportError(f"object {key} already exists with other content")
        return False

    def stored_sha256(self, key: str) -> str:
        """The SHA-256 S3 keeps for an object (base64); '' when it has none."""
        head = self._retry(
            "check",
            lambda: self.s3.head_object(
                Bucket=self.endpoint.bucket, Key=key, ChecksumMode="ENABLED"
            ),
        )
        return str(head.get("ChecksumSHA256", ""))

    def get(self, key: str, max_bytes: int) -> bytes:
        """The object's bytes; TooLargeError (nothing read) when it is bigger than `max_bytes`,
        MissingError when there is no such object."""
        try:
            out = self._retry(
                "download", lambda: self.s3.get_object(Bucket=self.endpoint.bucket, Key=key)
            )
        except _client_error() as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in {"NoSuchKey", "404"}:
                raise MissingError(f"object {key} is not in the bucket") from None
            raise
        body = out["Body"]
        size = int(out.get("ContentLength", 0))
        if size > max_bytes:
            body.close()
            raise TooLargeError(key, size, max_bytes)
        data = body.read(max_bytes + 1)
        body.close()
        if len(data) > max_bytes:
            raise TooLargeError(key, len(data), max_bytes)
        return bytes(data)

    def _list_pages(self, params: dict[str, str]) -> Iterator[ListObjectsV2OutputTypeDef]:
        """Every page of one listing of the bucket, following the continuation token."""
        token = ""  # pagination token  # nosec B105
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.endpoint.bucket, **params}
            if token:
                kwargs.pop("StartAfter", None)
                kwargs["ContinuationToken"] = token
            page = self._retry("list", partial(self.s3.list_objects_v2, **kwargs))
            yield page
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def list_keys(self, prefix: str, start_after: str = "") -> list[tuple[str, str]]:
        """(key, last-modified ISO) of objects under `prefix` after `start_after`, in key order."""
        params = (
            {"Prefix": prefix, "StartAfter": start_after} if start_after else {"Prefix": prefix}
        )
        return [
            (o["Key"], o["LastModified"].isoformat())
            for page in self._list_pages(params)
            for o in page.get("Contents", [])
        ]

    def list_children(self, prefix: str) -> list[str]:
        """The next path level under `prefix` (e.g. the device ids of a clinic)."""
        return [
            p["Prefix"][len(prefix) :].rstrip("/")
            for page in self._list_pages({"Prefix": prefix, "Delimiter": "/"})
            for p in page.get("CommonPrefixes", [])
        ]

    def put_events(self, bus: str, entries: list[dict[str, str]]) -> int:
        """Publish EventBridge entries (ids only) in batches of 10; returns the number failed."""
        failed = 0
        for i in range(0, len(entries), 10):
            batch = [{**e, "EventBusName": bus} for e in entries[i : i + 10]]
            out = self._retry("publish", partial(self.events.put_events, Entries=batch))
            failed += int(out.get("FailedEntryCount", 0))
        return failed
