"""Property-based fuzzing of the credentials loader: any JSON gives Credentials or ConfigError.

Part of the CI fuzz budget (docs/security.md): 3,000 inputs per property (300 files) by default.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from edgesight.agent.credentials import Credentials, load_credentials, parse_credentials
from edgesight.core.errors import ConfigError
from edgesight.core.mqtt_security import BrokerAddress, parse_broker_url

EXAMPLES = int(os.environ.get("EDGESIGHT_FUZZ_PROPERTY_EXAMPLES", "3000"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
near_valid = st.fixed_dictionaries(
    {
        "device_id": st.text(max_size=20) | st.just("cam-1"),
        "secret": st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()) | st.text(max_size=20),
        "token": st.text(max_size=20),
        "broker": st.from_regex(r"\A(mqtts?://)?[a-z0-9.:/-]{0,20}\Z") | st.text(max_size=20),
    },
    optional={"ca_file": json_values, "cert_file": json_values, "key_file": json_values, "extra": json_values},
)


@FUZZ
@given(near_valid | json_values)
def test_any_credentials_mapping_loads_or_is_named(data: Any) -> None:
    try:
        creds = parse_credentials(data, "fuzz.json")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.json")
        return
    assert isinstance(creds, Credentials)
    assert len(creds.secret) >= 16 and 0 < creds.broker_port < 65536
    assert repr(creds) == f"Credentials(device_id={creds.device_id!r}, broker={creds.broker.url})"  # no keys


@FUZZ
@given(st.text(max_size=40))
def test_any_broker_text_parses_or_is_named(text: str) -> None:
    try:
        address = parse_broker_url(text, "--broker")
    except ConfigError as exc:
        assert str(exc).startswith("--broker: expected host:port")
        return
    assert parse_broker_url(address.url) == address  # the URL it prints reads back the same
    assert isinstance(address, BrokerAddress) and address.host and 0 < address.port < 65536


@settings(max_examples=EXAMPLES // 10, deadline=None, database=None)
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_credentials_file_loads_or_is_named(tmp_path_factory: Any, raw: bytes) -> None:
    path: Path = tmp_path_factory.mktemp("creds") / "creds.json"
    path.write_bytes(raw)
    try:
        load_credentials(path)
    except ConfigError as exc:
        assert str(path) in str(exc) or "cannot read credentials" in str(exc)
