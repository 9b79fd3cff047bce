"""load_config on arbitrary bytes: a DeviceConfig or one ConfigError, nothing else (issue 8 item 8)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesight.core.config import DeviceConfig, load_config
from edgesight.core.errors import ConfigError

# YAML's structural characters are over-represented so that anchors, aliases, nesting, tags and
# flow collections come up often, not just plain scalars.
_YAML_PIECES = st.sampled_from(
    ["&a ", "*a", "[", "]", "{", "}", ": ", "- ", "\n", "  ", ",", "!!python/object ", "!!binary ",
     "sensor", "roi", "analytics", "zones", "0.5", "'x'", "? ", "|", "#", "\t", "%YAML 1.1\n", "---\n"]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.lists(_YAML_PIECES | st.text(max_size=5), max_size=60).map("".join))
def test_any_text_loads_or_gives_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "device.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        assert isinstance(load_config(path), DeviceConfig)
    except ConfigError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)  # one line naming the file


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200))
def test_any_bytes_load_or_give_a_config_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "device.yaml"
    path.write_bytes(data)
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
