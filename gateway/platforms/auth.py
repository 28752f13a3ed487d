"""Signatures and encryption of the platforms' pushes, checked before anything is read.

OneNET signs `token + nonce + msg` with MD5, base64-encoded. In the current format `msg` is a
string; in the legacy format it is an object (or a list) and the signature covers the JSON text
the platform wrote, so the text is taken from the body as received, never re-serialised. The
URL check (GET) carries the signature in the query, where a `+` may arrive as a space. The
encrypted mode is AES-CBC with PKCS#7 padding and the key as its own IV.

CTWing pushes carry no signature: each subscription URL holds a secret token, compared in
constant time (plus, optionally, the platform's source addresses).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


class AuthError(Exception):
    """The push is not from the platform account it claims (bad or missing signature, token)."""


def onenet_signature(token: str, nonce: str, msg: str | bytes) -> str:
    """base64(md5(token + nonce + msg)), as OneNET computes it."""
    text = msg if isinstance(msg, bytes) else msg.encode("utf-8")
    digest = hashlib.md5(token.encode() + nonce.encode() + text, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def check_onenet(token: str, nonce: str, msg: str | bytes, signature: str) -> None:
    """Raise AuthError unless `signature` is OneNET's for this token, nonce and message."""
    # A `+` of the base64 text arrives as a space when the query was not percent-encoded.
    given = signature.replace(" ", "+")
    expected = onenet_signature(token, nonce, msg)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise AuthError("OneNET signature does not match the account's token")


def check_token(expected: str, given: str | None) -> None:
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise AuthError("missing or wrong subscription token")


def aes_key(text: str) -> bytes:
    """The AES key as configured: 16/24/32 characters used as bytes (OneNET's own samples), or
    base64 of 16/24/32 bytes; anything else is a configuration error."""
    raw = text.encode("utf-8")
    if len(raw) in (16, 24, 32):
        return raw
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) in (16, 24, 32):
        return decoded
    raise ValueError("an AES key is 16, 24 or 32 characters (or that many bytes in base64)")


def decrypt_onenet(key: bytes, encrypted: str) -> bytes:
    """The plain message of OneNET's encrypted mode: base64 of AES-CBC, IV = key, PKCS#7."""
    try:
        data = base64.b64decode(encrypted, validate=True)
        iv = key[:16]
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except (binascii.Error, ValueError) as exc:
        raise AuthError(
            f"the encrypted message does not decrypt with the account's key: {exc}"
        ) from exc


def encrypt_onenet(key: bytes, plain: bytes) -> str:
    """The platform's side of `decrypt_onenet` (for the fake platform and tests)."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


@dataclass(frozen=True)
class Member:
    """A top-level member of a JSON object: its decoded value and its exact text in the body."""

    value: object
    text: str


def top_level_members(body: str) -> dict[str, Member]:
    """The members of the JSON object `body`, each with the text it had (for signatures over
    a member as sent); ValueError if `body` is not one JSON object."""
    decoder = json.JSONDecoder()
    ws = " \t\r\n"
    i = _skip(body, 0, ws)
    if body[i : i + 1] != "{":
        raise ValueError("the body is not a JSON object")
    members: dict[str, Member] = {}
    i = _skip(body, i + 1, ws)
    if body[i : i + 1] == "}":
        return members
    while True:
        if body[i : i + 1] != '"':
            raise ValueError(f"expected a member name at {i}")
        key, i = json.decoder.scanstring(body, i + 1)  # type: ignore[attr-defined]
        i = _skip(body, i, ws)
        if body[i : i + 1] != ":":
            raise ValueError(f"expected ':' at {i}")
        i = _skip(body, i + 1, ws)
        value, end = decoder.raw_decode(body, i)
        members[key] = Member(value, body[i:end])
        i = _skip(body, end, ws)
        if body[i : i + 1] == ",":
            i = _skip(body, i + 1, ws)
            continue
        if body[i : i + 1] == "}" and not body[i + 1 :].strip(ws):
            return members
        raise ValueError(f"expected ',' or '}}' at {i}")


def _skip(text: str, i: int, chars: str) -> int:
    while i < len(text) and text[i] in chars:
        i += 1
    return i
