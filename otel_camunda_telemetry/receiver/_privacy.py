"""The sender's IP address, reduced to a keyed hash that cannot be reversed by brute force.

A plain SHA-256 of an IPv4 address is reversed by hashing all 2**32 addresses; an HMAC with
a random secret that never sits next to the reports is not. The secret lives in its own file
(created on first start, mode 0600), so a copy of the database alone reveals nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import os
import secrets
from pathlib import Path

__all__ = ["IpHasher", "load_or_create_secret"]

_SECRET_BYTES = 32


def load_or_create_secret(path: str | os.PathLike[str]) -> bytes:
    """Read the hashing secret from ``path``, creating it on first use.

    Concurrent first starts (several workers of one service) agree on one secret: the new
    secret is written to a private temporary file and linked into place, which fails
    atomically when another process won the race, and then that file is read.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> load_or_create_secret(d + "/s") == load_or_create_secret(d + "/s")
        True
    """
    target = Path(path)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(secrets.token_hex(_SECRET_BYTES) + "\n")
            with contextlib.suppress(FileExistsError):
                os.link(tmp, target)
        finally:
            tmp.unlink()
    secret = bytes.fromhex(target.read_text(encoding="ascii").strip())
    if len(secret) < 16:
        raise ValueError(f"hashing secret in {target} is shorter than 16 bytes")
    return secret


class IpHasher:
    """Keyed hash (HMAC-SHA256) of client addresses.

    Addresses are normalised first, so ``::ffff:10.0.0.1`` and ``10.0.0.1`` hash alike.

    Example:
        >>> h = IpHasher(b"0" * 32)
        >>> h("10.0.0.1") == h("::ffff:10.0.0.1") and len(h("10.0.0.1")) == 64
        True
    """

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the hashing secret must be at least 16 bytes")
        self._secret = secret

    def __call__(self, address: str) -> str:
        """Return the hex HMAC of one address (any string that is not an IP is hashed as is)."""
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            normalised = address.strip()
        else:
            mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
            normalised = str(mapped or ip)
        return hmac.new(self._secret, normalised.encode("utf-8"), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        # Never show the secret, not even in a debugger or a log of the app's config.
        return "IpHasher(secret=<redacted>)"
