"""Telling the team: one message per release state change, to a Slack-compatible incoming webhook.

The runbooks post to the team's channel at every step; this does it for them. A message carries
the environment, service, version, operator, the traffic weights and the gate's verdict. Posting
is best effort by design: a webhook that is down, slow or refusing must never stop a release from
progressing and above all never stop a rollback. `send` therefore never raises; it returns why it
failed, and the engine journals that. The webhook URL holds a token, so it is never printed,
logged or journaled: failures name the error's kind and the HTTP status only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from releases.model import Weights
from releases.redact import mask


@dataclass(frozen=True)
class Notice:
    environment: str
    service: str
    version: str
    operator: str
    state: str  # what just happened, such as "canary at 10%" or "rolled back"
    weights: Weights | None = None  # the traffic split now, when known
    verdict: str | None = None  # the gate's verdict, for gate notices
    detail: str = ""  # the gate's reasons, an undone swap, ...

    @property
    def headline(self) -> str:
        verdict = f" [{self.verdict}]" if self.verdict else ""
        return f"{self.environment}/{self.service} {self.version}: {self.state}{verdict}"

    def payload(self) -> dict[str, Any]:
        """Slack's incoming-webhook body: `text` (what every compatible receiver shows, and
        Slack's notification text) and the same facts as fields in a section block. Credentials in
        any URL the detail quotes (a metric source's, say) are masked (releases/redact.py)."""
        detail = mask(self.detail)
        fields = {
            "Environment": self.environment,
            "Service": self.service,
            "Version": self.version,
            "Operator": self.operator,
            "Weights": str(self.weights) if self.weights else "unchanged",
            "Gate": self.verdict or "-",
        }
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{self.headline}*"}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in fields.items()
                ],
            },
        ]
        if detail:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": detail}]})
        return {"text": self.headline + (f" - {detail}" if detail else ""), "blocks": blocks}


class Notifier(Protocol):
    def send(self, notice: Notice) -> str | None:
        """Deliver the notice; None when delivered, otherwise why not. Never raises."""
        ...


class Silent:
    """No webhook configured: nothing to tell."""

    def send(self, notice: Notice) -> str | None:
        return None


class Webhook:
    """Posts each notice once, with a short timeout: a retry would delay the release (or the
    rollback) it reports on, and the journal keeps what was not delivered."""

    def __init__(self, url: str, timeout_seconds: float) -> None:
        self._client = httpx.Client(timeout=timeout_seconds, follow_redirects=False)
        self._url = url

    def send(self, notice: Notice) -> str | None:
        try:
            response = self._client.post(self._url, json=notice.payload())
        except Exception as error:  # noqa: BLE001 - an announcement must never break a release
            # Not only HTTPError: a malformed URL raises httpx.InvalidURL (a ValueError), a bad
            # payload a TypeError, and any of them escaping would stop a rollback half-way. The
            # message of such an error can carry the URL: its kind is enough.
            return f"the webhook could not be reached ({type(error).__name__})"
        if response.is_success:
            return None
        return f"the webhook answered HTTP {response.status_code}"
