"""Registrations as leads (``analytics.leads``, ``sql/migrations/0014``).

Every valid registration becomes a lead row; the email of one that consented to marketing is
kept whole for the project's CRM, sealed with ``EmailSealer`` (a key derived from
``CRM_EMAIL_KEY``) and bound to the registration id, so a replay writes the same bytes. Without
consent no email is kept at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from dataflows.enrich import utc
from dataflows.records import TableRow
from dataflows.validate import Event
from ico_core.events import EventType
from ico_core.pii import EmailSealer

LEADS_TABLE = "analytics.leads"


class LeadRow(NamedTuple):
    """A row of ``analytics.leads``."""

    registration_id: str
    ico_website_id: int
    session_id: str
    registered_at: datetime
    country: str
    kyc_completed: bool
    verification_tier: str
    consent_marketing: bool
    email_sealed: bytes | None


class LeadBuilder:
    """A registration -> its lead row (for the ``event_rows`` step); None otherwise."""

    def __init__(self, crm_key: bytes) -> None:
        self._sealer = EmailSealer(crm_key)

    def __call__(self, event: Event) -> TableRow | None:
        event_type, r = event
        if event_type is not EventType.REGISTRATION:
            return None
        consent = r["consent_marketing"]
        registration_id = r["registration_id"]
        return LEADS_TABLE, LeadRow(
            registration_id,
            r["ico_website_id"],
            r["session_id"],
            utc(r["timestamp"]),
            r["country"],
            r["kyc_completed"],
            r["verification_tier"],
            consent,
            # The address as the visitor typed it: that is what the CRM writes to.
            self._sealer.seal(registration_id, r["email"].encode()) if consent else None,
        )
