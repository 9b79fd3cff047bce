"""Password hashing with scrypt (standard library): ``scrypt$n$r$p$salt$hash``, hex encoded."""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["hash_password", "new_password", "verify_password"]

_N, _R, _P = 2**14, 8, 1  # ~16 MiB and ~50 ms per check: slow for guessing, fine for a login


def new_password() -> str:
    """A random password of 20 URL-safe characters (about 120 bits).

    Example:
        >>> len(new_password())
        20
    """
    return secrets.token_urlsafe(15)


def hash_password(password: str) -> str:
    """The stored form of ``password`` with a fresh salt.

    Example:
        >>> hash_password("x").startswith("scrypt$16384$8$1$")
        True
    """
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=64 * 1024 * 1024)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` hashes to ``stored`` (compared in constant time).

    Example:
        >>> stored = hash_password("correct horse")
        >>> verify_password("correct horse", stored), verify_password("wrong", stored)
        (True, False)
    """
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             maxmem=64 * 1024 * 1024)  # fmt: skip
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)
