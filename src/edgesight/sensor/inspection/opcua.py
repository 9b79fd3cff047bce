"""The OPC UA reject signal: the latest verdict served as OPC UA variables (asyncua).

Its own module so that asyncua (a third of a second to import) loads only when ``--opcua`` is given.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.sync import Server, SyncNode
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from edgesight.core.errors import ConfigError
from edgesight.sensor.inspection.opcua_cert import certificate_uri
from edgesight.sensor.inspection.signals import SignalError

__all__ = ["OPCUA_NAMESPACE", "OpcUaRejectSignal"]

log = logging.getLogger(__name__)

OPCUA_NAMESPACE = "urn:edgesight:inspection"
"""Namespace URI of the inspection nodes (clients look its index up by this URI)."""

_SECURE_POLICIES = (ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt, ua.SecurityPolicyType.Basic256Sha256_Sign)
"""What a server with a certificate offers: Basic256Sha256, the policy every current PLC and SCADA
client speaks (the older Basic128Rsa15 and Basic256 are deprecated by OPC UA for SHA-1)."""


def _encoding(path: Path) -> str:
    """``pem`` or ``der`` by the file's content: asyncua goes by the suffix, and a PEM key is often ``.key``."""
    with path.open("rb") as file:
        return "pem" if file.read(64).lstrip().startswith(b"-----BEGIN") else "der"


class _Readers:
    """asyncua's user manager: every session reads, none administers; on a secured server, only
    sessions on a secured channel.

    It replaces asyncua's default, which makes anyone logging in as ``admin`` (any password) an
    administrator able to write ``Reject`` and delete nodes. And asyncua opens a NoSecurity channel
    to any client, for discovery, even when no NoSecurity endpoint is offered: a client ignoring
    the endpoint list could read verdicts over it. Such a channel has no client certificate, so a
    secured server refuses its session here (``BadUserAccessDenied``), as it refuses a client
    whose certificate is not in ``trusted`` (DER), when that is given.
    """

    def __init__(self, secure: bool, trusted: frozenset[bytes] | None = None) -> None:
        self.secure, self.trusted = secure, trusted

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: bytes | None = None) -> User | None:  # fmt: skip
        """A reader, or None (refused) for a session the server's settings do not admit."""
        if self.secure and not certificate:
            return None
        if self.trusted is not None and certificate not in self.trusted:
            seen = x509.load_der_x509_certificate(certificate or b"")
            log.warning("OPC UA: refused a client with certificate %s (%s), not a trusted client",
                        seen.fingerprint(hashes.SHA1()).hex(), seen.subject.rfc4514_string())  # fmt: skip
            return None
        return User(role=UserRole.User)


def _trusted(paths: Sequence[Path]) -> frozenset[bytes] | None:
    """The client certificates (DER) a secured server admits; None: any (none were given)."""
    if not paths:
        return None
    found = set()
    for path in paths:
        try:
            data = path.read_bytes()
            loaded = (x509.load_pem_x509_certificate if _encoding(path) == "pem" else x509.load_der_x509_certificate)(data)
        except OSError as exc:
            raise ConfigError(f"OPC UA trusted client certificate {path}: cannot read it ({exc.strerror})") from exc
        except ValueError as exc:
            raise ConfigError(f"OPC UA trusted client certificate {path}: not a PEM or DER certificate ({exc})") from exc
        found.add(loaded.public_bytes(serialization.Encoding.DER))
    return frozenset(found)


class OpcUaRejectSignal:
    """Serves the latest verdict as OPC UA variables a PLC or SCADA reads or subscribes to.

    Nodes, under ``Objects/Inspection`` in namespace :data:`OPCUA_NAMESPACE` (read-only to clients)::

        Product     String   the product judged
        PartId      String   the last part's id
        Verdict     String   "pass" or "reject"
        Score       Double   its anomaly score
        Threshold   Double   the threshold it was judged with
        Sequence    UInt32   parts judged (mod 2**32): a new value means a new part
        Reject      Boolean  the reject pulse: true for ``pulse_ms`` after a reject, else false

    The other variables are written before ``Sequence`` and ``Reject``, so a client reacting to
    either reads the values of the same part.

    With ``certificate`` and ``private_key`` (the server's application certificate, PEM or DER) the
    endpoint offers only Basic256Sha256 Sign and SignAndEncrypt: a client that trusts the
    certificate knows it reads this station, and nobody between them can change a verdict (nor
    read it, with SignAndEncrypt). Without them it offers only NoSecurity: keep it on loopback or
    an isolated line network. Either way sessions are anonymous, any client (or, with
    ``trusted_clients``, any of those) may read, and none can write or delete a node (see
    :class:`_Readers`).

    Args:
        endpoint: ``opc.tcp://HOST:PORT/PATH`` to serve on.
        pulse_ms: how long ``Reject`` stays true.
        certificate: the application certificate; its subjectAltName URI becomes the server's
            ApplicationUri, as OPC UA requires them to match.
        private_key: the certificate's private key (unencrypted).
        trusted_clients: with a certificate, admit only clients whose application certificate is
            one of these files (PEM or DER); by default any client that sets up a secure channel.
    """

    def __init__(
        self,
        endpoint: str = "opc.tcp://127.0.0.1:4840/edgesight/",
        pulse_ms: float = 200.0,
        certificate: Path | None = None,
        private_key: Path | None = None,
        trusted_clients: Sequence[Path] = (),
    ) -> None:
        if (certificate is None) != (private_key is None):
            raise ValueError("an OPC UA certificate and its private key go together")
        if trusted_clients and certificate is None:
            raise ValueError("trusted OPC UA client certificates need a secured server (a certificate)")
        self.endpoint, self.pulse_s = endpoint, pulse_ms / 1000.0
        self._sequence = 0
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._server = Server()
        try:
            self.nodes = self._set_up(certificate, private_key, _trusted(trusted_clients))
            self._server.start()
        except BaseException as exc:
            self._server.tloop.stop()  # a thread that is not a daemon: left running, the process would not exit
            if isinstance(exc, OSError):
                raise SignalError(f"OPC UA reject signal: cannot serve {endpoint} ({exc})") from exc
            raise

    def _set_up(
        self, certificate: Path | None, private_key: Path | None, trusted: frozenset[bytes] | None
    ) -> dict[str, SyncNode]:
        """Security, identities and the nodes, all before the server starts listening."""
        self._server.set_endpoint(self.endpoint)
        self._server.set_server_name("EdgeSight inspection")
        self._server.set_identity_tokens([ua.AnonymousIdentityToken])
        self._server.aio_obj.iserver.set_user_manager(_Readers(certificate is not None, trusted))
        if certificate is None or private_key is None:
            self._server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        else:
            self._load_certificate(certificate, private_key)
            self._server.set_security_policy(list(_SECURE_POLICIES))
        index = self._server.register_namespace(OPCUA_NAMESPACE)
        folder = self._server.nodes.objects.add_object(index, "Inspection")
        initial: dict[str, tuple[Any, ua.VariantType]] = {
            "Product": ("", ua.VariantType.String), "PartId": ("", ua.VariantType.String),
            "Verdict": ("", ua.VariantType.String), "Score": (0.0, ua.VariantType.Double),
            "Threshold": (0.0, ua.VariantType.Double), "Sequence": (0, ua.VariantType.UInt32),
            "Reject": (False, ua.VariantType.Boolean),
        }  # fmt: skip
        return {
            name: folder.add_variable(index, name, value, varianttype=kind) for name, (value, kind) in initial.items()
        }

    def _load_certificate(self, certificate: Path, private_key: Path) -> None:
        """Load both through asyncua, and refuse a pair clients would reject only at connection time.

        A problem here is the configuration's (exit code 2), not the network's.
        """
        for what, path, load in (("certificate", certificate, self._server.load_certificate),
                                 ("private key", private_key, self._server.load_private_key)):  # fmt: skip
            try:
                load(str(path), format=_encoding(path))
            except OSError as exc:
                raise ConfigError(f"OPC UA {what} {path}: cannot read it ({exc.strerror})") from exc
            except (ValueError, TypeError) as exc:  # TypeError: a key encrypted with a password
                raise ConfigError(f"OPC UA {what} {path}: not an unencrypted PEM or DER {what} ({exc})") from exc
        internal = self._server.aio_obj.iserver
        if internal.certificate.public_key() != internal.private_key.public_key():
            raise ConfigError(f"OPC UA private key {private_key} is not the key of certificate {certificate}")
        uri = certificate_uri(internal.certificate)
        if uri is None:
            raise ConfigError(
                f"OPC UA certificate {certificate} has no application URI in its subjectAltName, which "
                "OPC UA clients require; make one with `edgesight inspect opcua-cert`"
            )
        self._server.set_application_uri(uri)

    def _write(self, name: str, value: Any, kind: ua.VariantType) -> None:
        self.nodes[name].write_value(ua.DataValue(ua.Variant(value, kind)))

    def send(self, verdict: dict[str, Any]) -> None:
        """Publish ``verdict`` on the nodes; a reject starts the pulse."""
        reject = not verdict["passed"]
        with self._lock:
            self._sequence = (self._sequence + 1) % 2**32
            sequence = self._sequence
            if self._timer is not None:
                self._timer.cancel()
            self._write("Product", verdict["product"], ua.VariantType.String)
            self._write("PartId", verdict["part_id"], ua.VariantType.String)
            self._write("Verdict", "reject" if reject else "pass", ua.VariantType.String)
            self._write("Score", float(verdict["score"]), ua.VariantType.Double)
            self._write("Threshold", float(verdict["threshold"]), ua.VariantType.Double)
            self._write("Sequence", sequence, ua.VariantType.UInt32)
            self._write("Reject", reject, ua.VariantType.Boolean)
            if reject:
                self._timer = threading.Timer(self.pulse_s, self._end_pulse, args=(sequence,))
                self._timer.daemon = True
                self._timer.start()

    def _end_pulse(self, sequence: int) -> None:
        with self._lock:
            if sequence == self._sequence:  # a later part owns the pulse now
                self._write("Reject", False, ua.VariantType.Boolean)

    def close(self) -> None:
        """End any pulse and stop serving."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        self._server.stop()
