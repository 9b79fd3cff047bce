"""EdgeSight: an open platform for intelligent vision sensors.

The sensor runs the model and sends out metadata (what is in the frame), never the frame.
Layers, with dependencies pointing one way::

    core -> geometry -> apps -> sensor / hub / factory -> cli
"""

__version__ = "0.1.0"
