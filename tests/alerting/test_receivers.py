"""Each receiver of the chart's Alertmanager configuration delivers, for real, in seconds: a real
Alertmanager loaded with the rendered ``alertmanager.yaml`` gets alerts on its v2 API as
Prometheus posts them and mails a local SMTP server (aiosmtpd, with the chart's login), posts
to a local stand-in of a Slack incoming webhook and to a webhook. Then the deduplication: the
same alert posted again, or by a second Prometheus replica, notifies no one a second time.

The SMTP server offers no STARTTLS, so ``notifications.smtp.requireTls=false``; Go's PLAIN
authentication still logs in over plain text because the server is on 127.0.0.1.
"""

from __future__ import annotations

import email
import email.policy
import queue
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from html import unescape
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from ico_analytics.services.process import free_ports
from tests.alerting.promlib import (
    Server,
    alertmanager,
    chart_monitoring,
    http_receiver,
    post_alerts,
)
from tests.chart.chartlib import Helm
from tests.tools import alertmanager_binaries

T = TypeVar("T")
#: aiosmtpd warns that it takes a login without TLS: on loopback, on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

SMTP_USER = "alerts"
SMTP_PASSWORD = "s3cret-for-the-test"
SLACK_CHANNEL = "#ico-alerts"
RECIPIENT = "ops@example.com"
#: Where the chart's Alertmanager configuration expects ``notifications.existingSecret``.
SECRETS_MOUNT = "/etc/alertmanager/secrets"
#: How long a notification may take (Alertmanager's group_wait is 1 s here).
DELIVERY_TIMEOUT = 20.0
#: Several of the chart's groupInterval here: any second notification would have come by then.
QUIET_SECONDS = 6.0

LAG_ALERT = {
    "labels": {
        "alertname": "IcoDataflowConsumerLagHigh",
        "severity": "warning",
        "team": "ico-analytics",
        "topic": "clickstream-events",
        "partition": "2",
    },
    "annotations": {
        "summary": "The dataflow falls behind on clickstream-events partition 2.",
        "description": "Consumer lag has stayed above 10000 records for 5m.",
    },
}


class Mailbox:
    """aiosmtpd handler: every message accepted, with the login it came under."""

    def __init__(self) -> None:
        self.messages: queue.Queue[tuple[Envelope, EmailMessage, bytes | None]] = queue.Queue()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data if session.authenticated else None
        self.messages.put((envelope, message, login))
        return "250 Message accepted for delivery"


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, auth_data=auth_data.login if ok else None)


@dataclass
class Receivers:
    alertmanager: Server
    mails: queue.Queue[tuple[Envelope, EmailMessage, bytes | None]]
    slack: queue.Queue[dict[str, Any]]
    webhook: queue.Queue[dict[str, Any]]


@pytest.fixture
def receivers(helm: Helm, tmp_path: Path) -> Iterator[Receivers]:
    """A real Alertmanager with the chart's receivers (mail, Slack, webhook) on loopback."""
    mailbox = Mailbox()
    (smtp_port,) = free_ports(1)
    smtp = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=smtp_port,
        authenticator=_authenticate,
        auth_required=True,  # no login, no mail: proves the chart's password file is read
        auth_require_tls=False,
        # aiosmtpd's LOGIN challenges ("User Name") are not the "Username:" that servers send
        # and Alertmanager expects; PLAIN is what it then uses, as with most relays.
        auth_exclude_mechanism=["LOGIN"],
    )
    smtp.start()
    try:
        with (
            http_receiver(reply=b"ok") as (slack_url, slack),  # Slack answers a plain "ok"
            http_receiver() as (webhook_url, webhook),
        ):
            _, config = chart_monitoring(
                helm,
                f"notifications.email.to={{{RECIPIENT}}}",
                f"notifications.smtp.host=127.0.0.1:{smtp_port}",
                f"notifications.smtp.user={SMTP_USER}",
                "notifications.smtp.requireTls=false",
                f"notifications.slack.channel={SLACK_CHANNEL}",
                f"notifications.webhook.url={webhook_url}",
                "notifications.existingSecret=ico-notify",
                "monitoring.alertmanager.groupWait=1s",
                "monitoring.alertmanager.groupInterval=1s",
            )
            # The Secret as the Alertmanager pod mounts it, here under tmp_path.
            secrets = tmp_path / "secrets" / "ico-notify"
            secrets.mkdir(parents=True)
            (secrets / "smtp-password").write_text(SMTP_PASSWORD)
            (secrets / "slack-url").write_text(slack_url)
            (receiver,) = config["receivers"]
            for mail in receiver["email_configs"]:
                mail["auth_password_file"] = _remount(mail["auth_password_file"], tmp_path)
            for slack_config in receiver["slack_configs"]:
                slack_config["api_url_file"] = _remount(slack_config["api_url_file"], tmp_path)
            with alertmanager(
                alertmanager_binaries()["alertmanager"], config, tmp_path / "alertmanager"
            ) as am:
                yield Receivers(am, mailbox.messages, slack, webhook)
    finally:
        smtp.stop()


def _remount(path: str, tmp_path: Path) -> str:
    assert path.startswith(f"{SECRETS_MOUNT}/ico-notify/"), path
    return str(tmp_path / "secrets" / path.removeprefix(f"{SECRETS_MOUNT}/"))


def _next(received: queue.Queue[T], what: str, am: Server) -> T:
    try:
        return received.get(timeout=DELIVERY_TIMEOUT)
    except queue.Empty:
        pytest.fail(f"no {what} in {DELIVERY_TIMEOUT:.0f} s\n{am.logs()}")


def _html(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None, message
    content = body.get_content()
    assert isinstance(content, str)
    return content


def _text_lines(html: str) -> list[str]:
    """The HTML body's text, one line per tag-separated piece (the template inlines its CSS)."""
    pieces = (unescape(p).strip() for p in re.split(r"<[^>]*>", html))
    return [p for p in pieces if p]


def test_a_firing_alert_is_mailed_and_posted_to_slack(receivers: Receivers) -> None:
    am = receivers.alertmanager
    began = time.monotonic()
    post_alerts(am, [LAG_ALERT])

    envelope, message, login = _next(receivers.mails, "mail", am)
    assert login == SMTP_USER.encode()
    assert envelope.rcpt_tos == [RECIPIENT]
    assert message["To"] == RECIPIENT
    assert message["From"] == "alerts@ico-analytics.local"
    # Alertmanager's subject: status, count, the group labels' values (alertname, partition,
    # topic: sorted by name), then the other common labels'.
    assert message["Subject"] == (
        "[FIRING:1] IcoDataflowConsumerLagHigh 2 clickstream-events (warning ico-analytics)"
    )
    lines = _text_lines(_html(message))
    for name, value in {**LAG_ALERT["labels"], **LAG_ALERT["annotations"]}.items():
        assert f"{name} = {value}" in lines, lines

    slack = _next(receivers.slack, "Slack message", am)
    assert slack["channel"] == SLACK_CHANNEL
    (attachment,) = slack["attachments"]
    assert attachment["title"] == message["Subject"]
    assert attachment["text"] == (
        "warning: The dataflow falls behind on clickstream-events partition 2.\n"
    )

    hook = _next(receivers.webhook, "webhook", am)
    assert [a["labels"] for a in hook["alerts"]] == [LAG_ALERT["labels"]]
    print(f"mail, Slack and webhook delivered within {time.monotonic() - began:.1f} s")


def test_the_same_alert_twice_or_from_two_replicas_notifies_once(receivers: Receivers) -> None:
    am = receivers.alertmanager
    post_alerts(am, [LAG_ALERT])
    queues: dict[str, queue.Queue[Any]] = {
        "mail": receivers.mails,
        "Slack message": receivers.slack,
        "webhook": receivers.webhook,
    }
    for what, received in queues.items():
        _next(received, what, am)

    # Prometheus re-sends a firing alert every evaluation; a second replica sends the same
    # labels (an HA pair drops its replica label before sending), started a moment later.
    for _ in range(3):
        post_alerts(am, [LAG_ALERT])
        time.sleep(0.5)
    time.sleep(QUIET_SECONDS)
    assert {what: received.qsize() for what, received in queues.items()} == dict.fromkeys(queues, 0)
    (stored,) = [
        a for a in _alerts(am) if a["labels"]["alertname"] == LAG_ALERT["labels"]["alertname"]
    ]
    assert stored["status"]["state"] == "active"

    # The control: another partition is another group, and it does reach everyone.
    other = {**LAG_ALERT, "labels": {**LAG_ALERT["labels"], "partition": "0"}}
    post_alerts(am, [other])
    _next(receivers.mails, "mail", am)
    _next(receivers.slack, "Slack message", am)
    hook = _next(receivers.webhook, "webhook", am)
    assert [a["labels"]["partition"] for a in hook["alerts"]] == ["0"]


def _alerts(am: Server) -> list[dict[str, Any]]:
    response = httpx.get(f"{am.url}/api/v2/alerts", timeout=10)
    assert response.status_code == 200, response.text
    alerts: list[dict[str, Any]] = response.json()
    return alerts
