"""EMQX's HTTP authenticator as compose.yaml configures it, read without EMQX.

`hocon(text)` reads the subset of HOCON that EMQX_AUTHENTICATION is written in (objects, arrays,
quoted and unquoted strings; `=`, `:` or nothing before an object); `emqx_request` renders the
request EMQX 5.8 sends for one CONNECT from that configuration, as its documentation says: the
configured method and URL, the configured headers, and the `body` map as a JSON object with
`${clientid}`, `${username}` and `${password}` replaced by the CONNECT packet's fields.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r'\s*(?:(?P<punct>[{}\[\]=:,])|"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s{}\[\]=:,"]+))'
)
_PLACEHOLDER = re.compile(r"\$\{(clientid|username|password)\}")


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"not HOCON at {text[pos : pos + 20]!r}")
        if match["punct"] is not None:
            out.append(("punct", match["punct"]))
        elif match["quoted"] is not None:
            out.append(("string", json.loads(f'"{match["quoted"]}"')))
        else:
            out.append(("string", match["bare"]))
        pos = match.end()
    return out


class _Reader:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, punct: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (punct is not None and token != ("punct", punct)):
            raise ValueError(f"expected {punct or 'a value'}, found {token}")
        self.at += 1
        return token

    def value(self) -> Any:
        kind, text = self.take()
        if (kind, text) == ("punct", "{"):
            return self.members("}")
        if (kind, text) == ("punct", "["):
            items = []
            while self.peek() != ("punct", "]"):
                items.append(self.value())
                if self.peek() == ("punct", ","):
                    self.take(",")
            self.take("]")
            return items
        if kind == "punct":
            raise ValueError(f"unexpected {text!r}")
        return text

    def members(self, end: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while self.peek() != ("punct", end):
            kind, key = self.take()
            if kind != "string":
                raise ValueError(f"expected a key, found {key!r}")
            if self.peek() in (("punct", "="), ("punct", ":")):
                self.take()
            elif self.peek() != ("punct", "{"):
                raise ValueError(f"expected = after {key!r}")
            out[key] = self.value()
            if self.peek() == ("punct", ","):
                self.take(",")
        self.take(end)
        return out


def hocon(text: str) -> Any:
    """The value of a HOCON text (an array or an object, as EMQX's environment takes)."""
    reader = _Reader(text)
    value = reader.value()
    if reader.peek() is not None:
        raise ValueError(f"text after the value: {reader.peek()}")
    return value


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def emqx_request(
    authenticator: dict[str, Any], clientid: str, username: str, password: str
) -> Request:
    """The request EMQX sends for a CONNECT with these fields (POST: the body map as JSON)."""
    fields = {"clientid": clientid, "username": username, "password": password}

    def render(template: str) -> str:
        return _PLACEHOLDER.sub(lambda m: fields[m[1]], template)

    body = {render(k): render(v) for k, v in authenticator.get("body", {}).items()}
    return Request(
        method=str(authenticator.get("method", "post")).upper(),
        url=render(authenticator["url"]),
        headers={k: render(v) for k, v in authenticator.get("headers", {}).items()},
        body=json.dumps(body).encode(),
    )
