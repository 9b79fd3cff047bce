"""Whether an address a server listens on is reachable from this machine only.

Servers that expose frames (``sense --preview``) or control (the inspection HTTP trigger) listen
on loopback by default; a non-loopback address is a decision the user states explicitly.
"""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(host: str) -> bool:
    """True when only this machine can reach ``host`` (``localhost`` or a loopback IP).

    A host name other than ``localhost`` counts as not loopback: it is not resolved here, and a
    name can point anywhere.

    Example:
        >>> [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "camera.local")]
        [True, True, True, False, False]
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
