"""Fixtures shared by every test folder: the real video, the shipped models, CI strictness."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgesight.core.package import ModelPackage
from edgesight.sensor.zoo import load_model
from support import VTEST, need


@pytest.fixture(scope="session")
def vtest_path() -> Path:
    """data/vtest.avi (768x576, 795 frames, 10 fps, MS-MPEG4), fetched by `make data`."""
    need(VTEST.is_file(), f"{VTEST} is missing: run `make data`")
    return VTEST


@pytest.fixture(scope="session")
def nanodet_int8() -> ModelPackage:
    return load_model("nanodet-coco-int8")


@pytest.fixture(scope="session")
def nanodet_fp32() -> ModelPackage:
    return load_model("nanodet-coco-fp32")


@pytest.fixture(scope="session")
def ssdlite() -> ModelPackage:
    return load_model("ssdlite-person")

# conftest files are plugins, not test modules: keep --doctest-modules from importing them twice
# under one module name.
collect_ignore_glob = ["conftest.py", "*/conftest.py"]
