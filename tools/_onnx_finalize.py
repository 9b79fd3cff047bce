"""Tidy a freshly converted ONNX graph so the project can consume it directly.

tf2onnx keeps TensorFlow tensor names ("input_1:0", "Identity_3:0", ...) and
whatever output order the source signature had.  Decoders in the project
refer to tensors by name, so we:
  * simplify with onnxsim (constant-folds the dynamic-shape plumbing that
    onnx-tf/TF.js left behind and fuses explicit Pad nodes into Conv),
  * rename graph inputs/outputs to stable, meaningful names,
  * put the outputs in a documented order,
  * drop the unused 'ai.onnx.ml' opset import tf2onnx always adds and the
    metadata onnxsim leaves behind,
  * put nodes/constants in a canonical order (byte-reproducible output),
  * run the full ONNX checker.

Usage:
  python tools/_onnx_finalize.py IN.onnx OUT.onnx \
      --rename 'input_1:0=input' --rename 'Identity:0=cls_s8' ... \
      --order cls_s8 reg_s8 ...
"""
import argparse
import heapq

import onnx


def canonicalize(g: onnx.GraphProto) -> None:
    """Make the serialised graph independent of tf2onnx/onnxsim set ordering.

    Both tools emit nodes in a valid but run-dependent topological order and
    name deduplicated constants after whichever duplicate they met first, so
    two conversions of the same model differed byte-wise.  Re-sort the nodes
    (Kahn's algorithm, ties broken by node name) and rename initializers in
    order of first use so repeated runs produce identical files.
    """
    inits = {i.name: i for i in g.initializer}
    src = list(g.node)  # index-based: protobuf wrappers have no stable id()
    available = {i.name for i in g.input} | set(inits) | {""}
    waiting = [sum(1 for x in set(n.input) if x not in available) for n in src]
    users: dict = {}
    for k, n in enumerate(src):
        for x in set(n.input):
            if x not in available:
                users.setdefault(x, []).append(k)
    ready = [(n.name, k) for k, n in enumerate(src) if waiting[k] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, k = heapq.heappop(ready)
        order.append(src[k])
        for out in src[k].output:
            for u in users.get(out, []):
                waiting[u] -= 1
                if waiting[u] == 0:
                    heapq.heappush(ready, (src[u].name, u))
    assert len(order) == len(src), "graph has a cycle or a dangling input"
    nodes = [onnx.NodeProto.FromString(n.SerializeToString()) for n in order]
    rename = {}
    for n in nodes:
        for x in n.input:
            if x in inits and x not in rename:
                rename[x] = f"const_{len(rename):04d}"
        n.input[:] = [rename.get(x, x) for x in n.input]
    new_inits = []
    for old, new in rename.items():
        t = onnx.TensorProto.FromString(inits[old].SerializeToString())
        t.name = new
        new_inits.append(t)
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    g.initializer.extend(new_inits)  # unused initializers are dropped
    del g.value_info[:]  # recomputed by shape inference afterwards


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--rename", action="append", default=[], metavar="OLD=NEW")
    ap.add_argument("--order", nargs="*", default=None, help="final output order (new names)")
    ap.add_argument("--no-simplify", action="store_true")
    ap.add_argument("--doc", default="", help="graph doc_string (tf2onnx puts the temp source path there)")
    args = ap.parse_args()

    model = onnx.load(args.src)
    if not args.no_simplify:
        import onnxsim  # only needed here, in the throwaway conversion venv

        model, ok = onnxsim.simplify(model)
        assert ok, "onnxsim could not validate the simplified model"

    g = model.graph
    mapping = dict(item.split("=", 1) for item in args.rename)
    # Rename every reference (node inputs/outputs, graph inputs/outputs).
    for node in g.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        vi.name = mapping.get(vi.name, vi.name)

    if args.order:
        by_name = {o.name: o for o in g.output}
        assert set(args.order) == set(by_name), (sorted(by_name), args.order)
        ordered = [onnx.ValueInfoProto.FromString(by_name[n].SerializeToString()) for n in args.order]
        del g.output[:]
        g.output.extend(ordered)

    # onnxsim records its own bookkeeping (removed node lists...) as model
    # metadata; it is noise and makes the output differ from run to run.
    del model.metadata_props[:]

    # The ML domain is never used by these vision graphs.
    used = {n.domain for n in g.node}
    keep = [o for o in model.opset_import if o.domain in ("", "ai.onnx") or o.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(keep)

    canonicalize(g)
    g.doc_string = args.doc
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, args.dst)
    for vi in model.graph.input:
        print("input ", vi.name, [d.dim_value or d.dim_param for d in vi.type.tensor_type.shape.dim])
    for vi in model.graph.output:
        print("output", vi.name, [d.dim_value or d.dim_param for d in vi.type.tensor_type.shape.dim])


if __name__ == "__main__":
    main()
