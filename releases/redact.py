"""Keeping credentials out of everything the release side shows or keeps.

Two functions, used wherever text leaves the process (errors, the console, the journal, the
deployment log, webhook notices):

* `redact_url` shows a URL without its credentials: the userinfo (`user:password@`) and the values
  of query parameters that carry secrets (`password`, `token`, `sig`, ...);
* `mask` replaces, in any text, every value it is told is secret, plus whatever looks like a
  credential on its own: the password of any URL (`scheme://user:password@host`) and of any libpq
  keyword/value DSN (`password=...`), and any secret-looking query parameter.

Masking is by value and by shape: a command that prints its DSN in another form than the one it
was given, or a password on its own, is still masked, as long as the password is a value of the
secret store or sits where a password goes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

MASK = "[secret]"

# Query parameters that carry credentials (Azure SAS `sig`, OAuth tokens, API keys, ...).
SECRET_PARAMETERS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
    "sig",
    "signature",
    "code",
    "auth",
)

# scheme://user:password@  or  scheme://token@  (everything between `//` and the last `@` before
# the host: a password may itself contain `@` or `:`).
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s@]*(?:@[^/?#\s@]*)*)@")
# libpq keyword/value DSNs: password=secret or password='a quoted secret'.
_DSN_PASSWORD = re.compile(r"(?P<key>\bpassword\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|[^\s'\"]+)", re.IGNORECASE)
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:" + "|".join(SECRET_PARAMETERS) + r")=)(?P<value>[^&#\s\"':)]+)", re.IGNORECASE
)
# Values shorter than this are not masked by value: masking "1" or "on" everywhere would make
# output unreadable and protects nothing (a secret store holds no such secret).
MIN_MASKED_LENGTH = 4


def _userinfo(match: re.Match[str]) -> str:
    userinfo = match.group("userinfo")
    user, colon, _ = userinfo.partition(":")
    # A user name alone (an Entra identity in DATABASE_URL) is not a secret; a password, or a
    # token given as the user name of an http(s) URL, is.
    if colon:
        return f"{match.group('scheme')}{user}:{MASK}@"
    if match.group("scheme").lower().startswith("http"):
        return f"{match.group('scheme')}{MASK}@"
    return match.group(0)


def redact_url(url: str) -> str:
    """The URL as it may be shown: no password, no token, no secret query value. Never raises."""
    text = _USERINFO.sub(_userinfo, url)
    return _QUERY_SECRET.sub(lambda m: f"{m.group('key')}{MASK}", text)


def url_secrets(url: str) -> list[str]:
    """The credentials a URL carries (its password, and secret query values), to mask them
    wherever else they appear on their own."""
    found: list[str] = []
    try:
        parts = urlsplit(url)
        if parts.password:
            found.append(parts.password)
    except ValueError:
        pass
    found += [match.group("value") for match in _QUERY_SECRET.finditer(url)]
    found += [match.group("value").strip("'") for match in _DSN_PASSWORD.finditer(url)]
    return found


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every one of `secrets`, every password in a URL or a DSN and every secret query
    value replaced by "[secret]". Longer values first, so a value containing another is masked
    whole."""
    values: set[str] = set()
    for secret in secrets:
        if secret:
            values.add(secret)
            values.update(url_secrets(secret))
    for value in sorted((v for v in values if len(v) >= MIN_MASKED_LENGTH), key=len, reverse=True):
        text = text.replace(value, MASK)
    text = _DSN_PASSWORD.sub(lambda m: f"{m.group('key')}{MASK}", text)
    return redact_url(text)
