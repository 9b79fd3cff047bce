"""The device agent: runs the sensor and the apps on the camera and ships metadata to the hub.

Modules: :mod:`~edgesight.agent.outbox` (durable queue), :mod:`~edgesight.agent.uplink` (MQTT),
:mod:`~edgesight.agent.credentials`, :mod:`~edgesight.agent.twin` (desired/reported config) and
:mod:`~edgesight.agent.runner` (the loop that composes them). See docs/agent.md.
"""

__all__: list[str] = []
