"""Per-clinic deployment parameters, validated before anything is synthesized."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
# The demo clinic whose synthesized template is checked in (infra/templates/) and used by the
# desktop's end-to-end sync test against moto.
DEMO_CLINIC_ID = "5b0c2f5e-6d0a-4c7e-9a51-0d2f3c4b5a69"
DEMO_REGION = "eu-central-1"
DEMO_RETENTION_DAYS = 2555  # about 7 years


@dataclass(frozen=True)
class ClinicParams:
    """What varies per clinic: its sync clinic id (UUID), AWS region and retention in days.

    Retention is the Object Lock period of audit-chain heads and how long S3 access logs and
    CloudTrail log files are kept. Bundle versions are never expired (every version is kept).
    """

    clinic_id: str
    region: str
    retention_days: int = DEMO_RETENTION_DAYS

    def __post_init__(self) -> None:
        try:
            if str(uuid.UUID(self.clinic_id)) != self.clinic_id:
                raise ValueError
        except ValueError:
            raise ValueError(
                f"clinic_id '{self.clinic_id}': not a lower-case UUID "
                "(use the id from `novamind sync create-enrolment`)"
            ) from None
        if not REGION_RE.match(self.region):
            raise ValueError(f"region '{self.region}': not an AWS region name like eu-central-1")
        if not 1 <= self.retention_days <= 36500:
            raise ValueError(f"retention_days {self.retention_days}: must be 1..36500")

    @property
    def short_id(self) -> str:
        """First 8 hex digits of the clinic id: for resource names with length limits."""
        return self.clinic_id.split("-", 1)[0]

    @property
    def stack_name(self) -> str:
        """CloudFormation stack name of this clinic's backend."""
        return f"novamind-clinic-{self.short_id}"

    @property
    def bus_name(self) -> str:
        """EventBridge bus name: goes into the enrolment file (`--event-bus`)."""
        return f"novamind-{self.clinic_id}"

    @property
    def prefix(self) -> str:
        """The clinic's key prefix in the buckets (sync format version 2, docs/sync-format.md)."""
        return f"v2/{self.clinic_id}/"


def demo_params() -> ClinicParams:
    """The demo clinic of the checked-in template."""
    return ClinicParams(DEMO_CLINIC_ID, DEMO_REGION, DEMO_RETENTION_DAYS)
