"""The hub's list of trusted model-signing keys: from arguments or the environment, each key checked."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgesight.core.errors import ConfigError
from edgesight.core.signing import public_key_text
from edgesight.hub.settings import HubSettings


def test_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [public_key_text(Ed25519PrivateKey.generate().public_key()) for _ in range(2)]
    monkeypatch.setenv("EDGESIGHT_HUB_TRUSTED_MODEL_KEYS", ",".join(keys))
    assert HubSettings.from_env().trusted_model_keys == tuple(keys)
    assert HubSettings().trusted_model_keys == ()


def test_a_bad_key_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    good = public_key_text(Ed25519PrivateKey.generate().public_key())
    monkeypatch.setenv("EDGESIGHT_HUB_TRUSTED_MODEL_KEYS", f"{good},ed25519:bm90IGEga2V5")
    with pytest.raises(ConfigError, match=r"trusted_model_keys\[1\]: not a valid Ed25519 public key"):
        HubSettings.from_env()
