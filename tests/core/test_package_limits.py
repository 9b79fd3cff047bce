"""Issue 8 item 7: a package that expands to gigabytes is refused before it is unpacked in full."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesight.core.errors import ModelLoadError
from edgesight.core.package import LIMITS, read_package, read_package_bytes
from edgesight.sensor.zoo import resolve_model

_MIB = 1 << 20


def shipped_members() -> dict[str, bytes]:
    with zipfile.ZipFile(resolve_model("nanodet-coco-int8")) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def zip_with_zeros(path: Path, name: str, mib: int) -> Path:
    """The shipped package plus a member of ``mib`` MiB of zeros, streamed (never in memory)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for member, data in shipped_members().items():
            zf.writestr(member, data)
        with zf.open(name, "w", force_zip64=True) as out:
            zeros = bytes(_MIB)
            for _ in range(mib):
                out.write(zeros)
    return path


def peak_bytes_while(path: Path) -> tuple[BaseException, int]:
    tracemalloc.start()
    try:
        with pytest.raises(ModelLoadError) as caught:
            read_package(path)
        return caught.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_one_gib_member_is_refused_from_its_header(tmp_path: Path) -> None:
    path = zip_with_zeros(tmp_path / "bomb.espkg", "model.bin", 1024)
    assert path.stat().st_size < 8 * _MIB  # the "4 MB file"
    error, peak = peak_bytes_while(path)
    assert "member model.bin declares 1073741824 bytes" in str(error)
    assert "bomb.espkg" in str(error)
    assert peak < 64 * _MIB, f"unpacking allocated {peak} bytes"


def test_high_ratio_member_under_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = zip_with_zeros(tmp_path / "bomb.espkg", "anchors.npy", 64)
    error, _ = peak_bytes_while(path)
    assert "member anchors.npy expands" in str(error) and "decompression bomb" in str(error)


def lie_about_size(data: bytearray, info: zipfile.ZipInfo, central_offset: int, declared: int) -> None:
    """Rewrite a member's uncompressed size in its local header and its central directory entry."""
    struct.pack_into("<I", data, info.header_offset + 22, declared)
    struct.pack_into("<I", data, central_offset + 24, declared)


def test_member_that_lies_about_its_size_stops_at_the_declared_size(tmp_path: Path) -> None:
    """Declared sizes can lie: unpacking stops at the declared size instead of trusting the stream."""
    path = tmp_path / "liar.espkg"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("labels.txt", bytes(256 * _MIB))  # 256 MiB of zeros behind a 1 KiB header
    data = bytearray(path.read_bytes())
    info = zipfile.ZipFile(path).infolist()[0]
    central = data.rindex(b"PK\x01\x02")
    lie_about_size(data, info, central, 1024)
    tracemalloc.start()
    try:
        with pytest.raises(ModelLoadError, match=r"liar\.espkg: not a readable model package"):
            read_package_bytes(bytes(data), source="liar.espkg")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(data) + 8 * _MIB, f"unpacking allocated {peak} bytes"


def test_too_many_members(tmp_path: Path) -> None:
    path = tmp_path / "many.espkg"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(LIMITS.max_members + 1):
            zf.writestr(f"f{i}", b"")
    with pytest.raises(ModelLoadError, match=rf"{LIMITS.max_members + 1} members, more than the limit"):
        read_package(path)


def test_shipped_packages_are_within_the_limits() -> None:
    for name in ("nanodet-coco-fp32", "nanodet-coco-int8", "ssdlite-person"):
        assert read_package(resolve_model(name)).id == name


def small_zip(entries: list[tuple[str, bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data, method in entries:
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buffer.getvalue()


@pytest.mark.filterwarnings("ignore:Duplicate name")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entries=st.lists(
        st.tuples(
            st.text(min_size=1, max_size=12),
            st.binary(max_size=64),
            st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]),
        ),
        max_size=4,
    ),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255)), max_size=6),
)
def test_any_damaged_zip_is_a_model_load_error(entries: list[tuple[str, bytes, int]], flips: list[tuple[int, int]]) -> None:
    """Fuzz: whatever the bytes, the reader answers with a ModelLoadError, never another exception."""
    data = bytearray(small_zip(entries))
    for where, mask in flips:
        data[where % len(data)] ^= mask
    with pytest.raises(ModelLoadError):
        read_package_bytes(bytes(data), source="fuzz.espkg")
