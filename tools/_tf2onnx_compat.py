"""Run tf2onnx's command line with NumPy 2 compatibility shims.

tf2onnx 1.17 still calls aliases that NumPy 2 removed (np.product, np.bool,
np.object, ...).  The conversion venvs install whatever NumPy TensorFlow pulls
in (NumPy 2.x), so we re-add the aliases before importing tf2onnx instead of
pinning an old NumPy that TensorFlow would not accept.

Usage: python tools/_tf2onnx_compat.py <tf2onnx.convert arguments...>
Only used at conversion time, inside a throwaway venv; never at run time.
"""
import sys

import numpy as np

for _alias, _target in (("product", "prod"), ("cumproduct", "cumprod"),
                        ("sometrue", "any"), ("alltrue", "all"),
                        ("bool", bool), ("object", object), ("str", str)):
    if _alias not in vars(np):  # not hasattr(): that warns for np.object/np.str
        setattr(np, _alias, getattr(np, _target) if isinstance(_target, str) else _target)

from tf2onnx import convert  # noqa: E402  (must come after the shims)

if __name__ == "__main__":
    sys.argv[0] = "tf2onnx.convert"
    convert.main()
