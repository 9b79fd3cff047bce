# Shared bits for tools/convert_*.sh (sourced, not executed).
#
# Conversion needs TensorFlow + tf2onnx, which the project must never need at
# run time, so everything happens in a throwaway venv under a temp dir.  Set
# CONVERT_VENV=/some/dir to create/reuse a persistent venv instead (faster
# when converting both models).  The pins are the versions the committed
# models were produced with; bump them deliberately.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$REPO_ROOT/tools"
OUT_DIR="$REPO_ROOT/build/onnx"
PYTHON_BIN="${PYTHON:-python3}"
CONVERT_PKGS=(tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnx==1.23.2 onnxsim==0.8.1 onnxruntime==1.31.1)

WORK="$(mktemp -d -t es-convert.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

VENV="${CONVERT_VENV:-$WORK/venv}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import tf2onnx, onnxsim, onnxruntime' 2>/dev/null; then
    echo ">> creating conversion venv in $VENV"
    "$PYTHON_BIN" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${CONVERT_PKGS[@]}"
fi
PY="$VENV/bin/python"
# PYTHONHASHSEED: belt and braces for reproducible output (the real fix for
# run-to-run differences is the canonical ordering in _onnx_finalize.py).
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONWARNINGS=ignore PYTHONHASHSEED=0
mkdir -p "$OUT_DIR"

# check_sha256 FILE EXPECTED -- upstream packages are not content-addressed by
# version alone, so pin the exact bytes we reviewed.
check_sha256() {
    local got
    got="$(sha256sum "$1" | cut -d' ' -f1)"
    if [ "$got" != "$2" ]; then
        echo "sha256 mismatch for $1: got $got, expected $2" >&2
        exit 1
    fi
}
