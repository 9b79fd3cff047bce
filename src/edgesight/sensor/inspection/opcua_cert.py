"""A self-signed OPC UA application certificate, for a line without a plant certificate authority.

OPC UA secures a channel with each application's X.509 certificate: the client checks the
server's certificate against the one it was told to trust, and both sign (and encrypt) every
message with their keys. OPC UA Part 6 asks for an RSA key, a SHA-256 signature, and a
subjectAltName holding the application's URI (which must equal the ApplicationUri the server
announces) and its host names. Only ``cryptography`` is imported here, so ``inspect opcua-cert``
starts without asyncua.

Example:
    >>> from cryptography import x509
    >>> cert_pem, key_pem = make_application_certificate("urn:cam-7:edgesight:inspection", ["cam-7", "10.0.0.7"])
    >>> certificate_uri(x509.load_pem_x509_certificate(cert_pem))
    'urn:cam-7:edgesight:inspection'
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["certificate_uri", "make_application_certificate"]


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return x509.DNSName(host)


def make_application_certificate(uri: str, hosts: Sequence[str], days: int = 3650) -> tuple[bytes, bytes]:
    """A self-signed certificate (PEM) for application ``uri`` reachable as ``hosts``, and its key (PEM).

    RSA 2048 and SHA-256, as Basic256Sha256 requires; the key is not encrypted (the station
    starts unattended), so keep its file private. Ten years by default: an expired certificate
    stops the line, and renewing one means trusting the new one on every client.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "EdgeSight inspection"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "EdgeSight"),
    ])  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=True, key_encipherment=True, data_encipherment=True,
        key_agreement=False, key_cert_sign=True, crl_sign=False, encipher_only=False, decipher_only=False,
    )  # fmt: skip
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # a client whose clock is a little behind
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri), *map(_general_name, hosts)]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def certificate_uri(certificate: x509.Certificate) -> str | None:
    """The application URI in ``certificate``'s subjectAltName, or None when it has none."""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = names.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None
