"""Production-line inspection on the sensor: feature network (ONNX Runtime), part images, reject signals."""

__all__: list[str] = []
