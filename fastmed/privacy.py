"""Keyed identifiers: series and studies are named by an HMAC of their UIDs, never the UIDs.

The key comes from ``FASTMED_ID_KEY`` (set one per project to make ids unlinkable across
projects); without it a fixed library key is used, which still keeps raw UIDs out of logs,
errors, manifests and cache paths but is not a secret.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os

_DEFAULT_KEY = b"fastmed-keyed-id-v1"


def id_key() -> bytes:
    """The HMAC key for keyed ids (``FASTMED_ID_KEY`` or the library default)."""
    env = os.environ.get("FASTMED_ID_KEY")
    return env.encode() if env else _DEFAULT_KEY


def keyed_id(*parts: str, key: bytes | None = None, length: int = 16) -> str:
    """Return a stable, non-reversible hex id for the given UIDs.

    Parameters
    ----------
    *parts
        UIDs (or other identifying strings) that together name the object.
    key
        HMAC key; default :func:`id_key`.
    length
        Hex characters kept (16 = 64 bits).
    """
    return _keyed_id(parts, key if key is not None else id_key(), length)


@functools.lru_cache(maxsize=65536)
def _keyed_id(parts: tuple[str, ...], key: bytes, length: int) -> str:
    # Cached: an index hashes the same series UID once per slice.
    return hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()[:length]
