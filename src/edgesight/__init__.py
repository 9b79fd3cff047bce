"""EdgeSight: an open platform for intelligent vision sensors.

The sensor runs the model and sends out metadata (what is in the frame), never the frame.
Layers, with dependencies pointing one way (each may import only what is left of it)::

    geometry -> core -> apps -> sensor / hub / factory -> cli

``geometry`` is pure maths over numpy arrays and imports nothing of EdgeSight, so the config
schema in ``core`` can reject a self-intersecting zone or a singular homography at load time.
``core``, ``geometry`` and ``apps`` import no I/O library (no cv2, onnxruntime, PyAV, paho,
SQLAlchemy); the sensor knows nothing of apps or hub.
"""

__version__ = "0.1.0"
