"""EdgeSight: an open platform for intelligent vision sensors.

The sensor runs the model and sends out metadata (what is in the frame), never the frame.
Layers, with dependencies pointing one way (each may import only what is left of it)::

    geometry -> core -> apps -> sensor / hub / factory -> agent -> cli

``geometry`` is pure maths over numpy arrays and imports nothing of EdgeSight, so the config
schema in ``core`` can reject a self-intersecting zone or a singular homography at load time.
``core``, ``geometry`` and ``apps`` import no I/O library (no cv2, onnxruntime, PyAV, paho,
SQLAlchemy); the sensor knows nothing of apps or hub.

The main types are re-exported here (``from edgesight import Detections, FrameMeta, load_config``),
only from ``core``, so ``import edgesight`` stays light: no onnxruntime, cv2, PyAV, SQLAlchemy,
FastAPI or paho is imported until a sensor, hub or agent module is.
"""

from edgesight.core.config import AnalyticsConfig, DeviceConfig, load_config, parse_config
from edgesight.core.detections import Detections
from edgesight.core.errors import (
    ConfigError,
    EdgeSightError,
    InputError,
    ModelLoadError,
    PackageTrustError,
    SchemaError,
    SourceEndedError,
    SourceError,
    StorageError,
    UnsupportedVersionError,
)
from edgesight.core.events import Event, EventType, FrameContext
from edgesight.core.exit_codes import ExitCode
from edgesight.core.frame import FrameMeta, ModelRef
from edgesight.core.intrinsics import Intrinsics
from edgesight.core.package import ModelPackage, read_package
from edgesight.core.region import Region

__all__ = [
    "AnalyticsConfig",
    "ConfigError",
    "Detections",
    "DeviceConfig",
    "EdgeSightError",
    "Event",
    "EventType",
    "ExitCode",
    "FrameContext",
    "FrameMeta",
    "InputError",
    "Intrinsics",
    "ModelLoadError",
    "ModelPackage",
    "ModelRef",
    "PackageTrustError",
    "Region",
    "SchemaError",
    "SourceEndedError",
    "SourceError",
    "StorageError",
    "UnsupportedVersionError",
    "__version__",
    "load_config",
    "parse_config",
    "read_package",
]

__version__ = "0.1.0"
