"""Export the 1917 SSD anchors of the frozen TF Object Detection API graph.

The ONNX graph is cut before TF's Postprocessor (box decoding + NMS), so the
project's decoder needs the anchors.  We evaluate the graph's own anchor
tensor ('Concatenate/concat', [ymin, xmin, ymax, xmax] normalised to 0..1),
convert it to [ycenter, xcenter, height, width] exactly the way TF's
FasterRcnnBoxCoder does, and cross-check it against the standard
ssd_anchor_generator (6 layers, scales 0.2..0.95, aspect ratios
1,2,1/2,3,1/3 + interpolated, reduced lowest layer) so the layout is known.

  python tools/_ssd_anchors.py frozen_inference_graph.pb OUT.npy
"""
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf


def standard_ssd_anchors() -> np.ndarray:
    num_layers, min_scale, max_scale = 6, 0.2, 0.95
    ratios = [1.0, 2.0, 0.5, 3.0, 0.3333]
    scales = [min_scale + (max_scale - min_scale) * i / (num_layers - 1) for i in range(num_layers)] + [1.0]
    out = []
    for layer, fm in enumerate([19, 10, 5, 3, 2, 1]):  # feature-map sizes for a 300x300 input
        if layer == 0:  # reduce_boxes_in_lowest_layer
            specs = [(0.1, 1.0), (scales[0], 2.0), (scales[0], 0.5)]
        else:
            specs = [(scales[layer], r) for r in ratios] + [(np.sqrt(scales[layer] * scales[layer + 1]), 1.0)]
        for y in range(fm):
            for x in range(fm):
                for s, r in specs:  # order: row, column, anchor type
                    out.append([(y + 0.5) / fm, (x + 0.5) / fm, s / np.sqrt(r), s * np.sqrt(r)])
    return np.asarray(out, np.float32)


def main(pb: str, dst: str) -> None:
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(Path(pb).read_bytes())
    g = tf.Graph()
    with g.as_default():
        tf.import_graph_def(gd, name="")
    with tf.compat.v1.Session(graph=g) as s:
        corners = s.run("Concatenate/concat:0", {"image_tensor:0": np.zeros((1, 300, 300, 3), np.uint8)})
    corners = corners.astype(np.float32)
    h = corners[:, 2] - corners[:, 0]
    w = corners[:, 3] - corners[:, 1]
    anchors = np.stack([corners[:, 0] + h / 2, corners[:, 1] + w / 2, h, w], 1).astype(np.float32)
    diff = float(np.abs(anchors - standard_ssd_anchors()).max())
    print(f"anchors {anchors.shape} [yc, xc, h, w]; max|graph - standard generator| = {diff:.3g}")
    assert anchors.shape == (1917, 4) and diff < 1e-5
    np.save(dst, anchors)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
