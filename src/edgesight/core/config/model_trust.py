"""The ``model_trust`` section: which model packages a device accepts (see :mod:`edgesight.core.trust`).

It sits at the top level of the config, not under ``sensor``: a desired twin may override sensor
keys, and must never loosen trust.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import Field, field_validator

from edgesight.core.config.base import StrictSection
from edgesight.core.errors import ConfigError
from edgesight.core.signing import parse_public_key

__all__ = ["TrustSettings"]


class TrustSettings(StrictSection):
    """Trust settings of a device (``model_trust`` in its config; a desired twin cannot change them).

    Example:
        >>> TrustSettings.model_validate({"trusted_keys": ["ed25519:O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik="]})
        ... # doctest: +ELLIPSIS
        TrustSettings(trusted_keys=('ed25519:O2on...',), allow_unsigned=False, accepted_versions=None)
    """

    trusted_keys: tuple[str, ...] = Field(
        (), description="public keys (ed25519:<base64>) whose signed packages are accepted"
    )
    allow_unsigned: bool = Field(
        False, description="development only: accept packages from outside the zoo without a signature"
    )
    accepted_versions: Path | None = Field(
        None, description="JSON file of the highest version accepted per model id (refuses downgrades)"
    )

    @field_validator("trusted_keys")
    @classmethod
    def check_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        for i, text in enumerate(keys):
            try:
                parse_public_key(text, f"trusted_keys[{i}]")
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return keys

    def public_keys(self) -> tuple[Ed25519PublicKey, ...]:
        """The trusted keys, parsed."""
        return tuple(parse_public_key(text) for text in self.trusted_keys)
