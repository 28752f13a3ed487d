"""argon2 password hashes and session tokens."""

from __future__ import annotations

import pytest

from console.api.passwords import (
    hash_password,
    needs_rehash,
    new_token,
    token_digest,
    verify_password,
)


def test_a_hash_verifies_its_password_only() -> None:
    stored = hash_password("correct-horse")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct-horse")
    assert not verify_password(stored, "correct-horsE")
    assert not needs_rehash(stored)


def test_the_same_password_hashes_differently_each_time() -> None:
    assert hash_password("correct-horse") != hash_password("correct-horse")


def test_an_unknown_user_or_broken_hash_fails_without_raising() -> None:
    assert not verify_password(None, "anything-at-all")
    assert not verify_password("not-a-hash", "anything-at-all")


def test_short_passwords_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 8"):
        hash_password("short")


def test_tokens_are_random_and_stored_as_sha256() -> None:
    a, b = new_token(), new_token()
    assert a != b
    assert len(a) >= 43
    assert len(token_digest(a)) == 32
    assert token_digest(a) == token_digest(a) != token_digest(b)
