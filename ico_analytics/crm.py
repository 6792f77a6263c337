"""``ico-analytics crm leads``: a project's consenting leads for its CRM, emails opened.

Run it as a login in the ``crm_reader`` role (``sql/migrations/0014``) with ``CRM_EMAIL_KEY``:
the database holds the emails sealed and never the key, and the dashboards' role cannot read
even the sealed bytes.
"""

from __future__ import annotations

import csv
from datetime import datetime
from typing import TextIO

import psycopg
from psycopg.rows import dict_row

from ico_core.db import libpq_url, query
from ico_core.pii import EmailSealer

COLUMNS = (
    "registration_id",
    "registered_at",
    "email",
    "country",
    "kyc_completed",
    "verification_tier",
    "traffic_source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
)


def export_leads(
    database_url: str, crm_key: bytes, project: int, since: datetime | None, out: TextIO
) -> int:
    """Write ``project``'s consenting leads registered since ``since`` (all when None) to
    ``out`` as CSV with a header; how many. A key other than the dataflow's raises
    ``CodecError`` on the first email."""
    sealer = EmailSealer(crm_key)
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    with psycopg.connect(libpq_url(database_url), row_factory=dict_row) as conn:
        rows = conn.execute(query("crm/consenting_leads"), {"project": project, "since": since})
        for row in rows:
            sealed = row.pop("email_sealed")
            email = sealer.open(row["registration_id"], sealed).decode()
            writer.writerow(
                row | {"email": email, "registered_at": row["registered_at"].isoformat()}
            )
            count += 1
    return count
