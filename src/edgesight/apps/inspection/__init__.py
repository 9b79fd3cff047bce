"""Production-line inspection from good parts only (PatchCore-style), the pure maths.

Patch features of good parts go into a memory bank, thinned by a greedy k-center coreset; a part's
anomaly map is each patch's distance to its nearest bank feature; the part's score is the map's
maximum and is compared with a threshold calibrated on held-out good parts for a target
false-reject rate. ONNX Runtime (the feature network) and image files live in
:mod:`edgesight.sensor.inspection`; this package needs numpy and scipy only.
"""

__all__: list[str] = []
