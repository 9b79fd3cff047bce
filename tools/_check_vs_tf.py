"""Prove a converted ONNX graph is numerically the same as its TensorFlow source.

Runs the *original* graph with TensorFlow and the ONNX graph with onnxruntime
on the same deterministic pseudo-random input and fails if any mapped output
differs by more than --atol.  A TF.js graph model is rebuilt as a TF GraphDef
(same nodes, same fp16->fp32 dequantised weights as TF.js would use), so no
tensorflowjs package is needed.  Conversion-time only (throwaway venv).

  python tools/_check_vs_tf.py --onnx OUT.onnx --tfjs model.json \
      --input input=input_1:0 --output cls_s8=Identity:0 ...
  python tools/_check_vs_tf.py --onnx OUT.onnx --graphdef frozen.pb --nchw-to-nhwc \
      --input input=Preprocessor/sub:0 --output box_encodings=Squeeze:0 ...
"""
import argparse
import json
import os
from pathlib import Path

import numpy as np

np.product = getattr(np, "product", np.prod)  # tf2onnx helper below still uses it
import onnxruntime as ort  # noqa: E402
import tensorflow as tf  # noqa: E402
from google.protobuf.json_format import ParseDict  # noqa: E402


def graph_from_tfjs(path: str) -> tf.compat.v1.GraphDef:
    from tf2onnx.tfjs_utils import read_tfjs_weight

    with open(path) as fp:
        model = json.load(fp)
    manifest = model["weightsManifest"][0]
    data = b"".join(Path(os.path.dirname(path), p).read_bytes() for p in manifest["paths"])
    weights, offset = {}, 0
    for spec in manifest["weights"]:
        name, arr, nbytes = read_tfjs_weight(spec, data, offset)
        weights[name], offset = arr, offset + nbytes
    gd = tf.compat.v1.GraphDef()
    for node in model["modelTopology"]["node"]:
        nd = gd.node.add()
        ParseDict(node, nd)
        if node["op"] == "Const" and node["name"] in weights:
            # TF.js stores int64 constants as int32: cast back to the node's dtype.
            dtype = tf.dtypes.as_dtype(nd.attr["dtype"].type).as_numpy_dtype
            nd.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(weights[node["name"]].astype(dtype)))
    return gd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--tfjs")
    src.add_argument("--graphdef")
    ap.add_argument("--input", required=True, metavar="ONNX=TF")
    ap.add_argument("--output", action="append", required=True, metavar="ONNX=TF")
    ap.add_argument("--nchw-to-nhwc", action="store_true", help="ONNX input is NCHW, TF input NHWC")
    ap.add_argument("--low", type=float, default=-2.0)
    ap.add_argument("--high", type=float, default=2.0)
    ap.add_argument("--atol", type=float, default=1e-4)
    args = ap.parse_args()

    if args.tfjs:
        gd = graph_from_tfjs(args.tfjs)
    else:
        gd = tf.compat.v1.GraphDef()
        gd.ParseFromString(Path(args.graphdef).read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(gd, name="")

    sess = ort.InferenceSession(args.onnx, providers=["CPUExecutionProvider"])
    onnx_in, tf_in = args.input.split("=", 1)
    shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
    x = np.random.default_rng(0).uniform(args.low, args.high, shape).astype(np.float32)
    tf_x = x.transpose(0, 2, 3, 1) if args.nchw_to_nhwc else x

    pairs = [o.split("=", 1) for o in args.output]
    onnx_out = sess.run([o for o, _ in pairs], {onnx_in: x})
    with tf.compat.v1.Session(graph=graph) as s:
        tf_out = s.run([t for _, t in pairs], {tf_in: tf_x})
    worst = 0.0
    for (name, tname), a, b in zip(pairs, onnx_out, tf_out, strict=True):
        assert a.shape == b.shape, (name, a.shape, b.shape)
        diff = float(np.abs(a - b).max())
        worst = max(worst, diff)
        print(f"  {name:14s} {a.shape!s:16s} vs TF {tname:32s} max|diff| = {diff:.3g}")
    print(f"max abs diff ONNX vs TF: {worst:.3g} (atol {args.atol})")
    if worst > args.atol:
        raise SystemExit("ONNX output differs from TensorFlow")


if __name__ == "__main__":
    main()
