"""Build tests/data/vtest_people.csv from the committed proposals and tools/annotate/corrections.yaml.

Pipeline (details and numbers in tests/data/README.md):

1. read the proposals of every detector run in ``proposals/`` (made by ``propose.py``);
2. per frame, fuse the runs' boxes into candidates (``linking.fuse``);
3. link candidates into tracks forwards, drop short/weak tracks, stitch fragments across gaps,
   fill gaps of up to 15 frames by linear interpolation (``linking``);
4. apply the reviewed corrections (``corrections.yaml``: dropped tracks and boxes, id splits and
   merges, boxes placed by eye at keyframes, visibility and don't-care flags);
5. estimate visibility from mutual occlusion (a person whose feet are higher in the image is
   behind one whose feet are lower) and write the MOT file.

Usage::

    .venv/bin/python tools/annotate/build_reference.py            # writes tests/data/vtest_people.csv
    .venv/bin/python tools/annotate/build_reference.py --auto-only --out /tmp/annot/auto.csv
"""

from __future__ import annotations

import argparse
import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from common import PROPOSALS, REFERENCE, Row, read_proposals, write_mot
from linking import Candidate, LinkParams, dedupe, drop_parts, fuse, interpolate, iou, keep, link, stitch

N_FRAMES = 795
# Finest tiling first: the box of a fused candidate comes from the first run that proposed it.
RUNS = ["nanodet-fp32-3x3", "nanodet-fp32-2x2", "nanodet-fp32-off", "ssdlite-2x2"]
CORRECTIONS = Path(__file__).resolve().parent / "corrections.yaml"
SNAP_IOU = 0.55  # a box between keyframes snaps to a detector candidate this close
SNAP_MIN_SCORE = 0.3
REPLACE_IOU = 0.6  # automatic boxes of other tracks overlapping a reviewed box this much are dropped
STATIC_IOU = 0.5
STATIC_MAX_SCORE = 0.6
PROVENANCE = Path("/tmp/annot/provenance.csv")  # for render.py; not committed


def automatic(
    params: LinkParams, static: list[list[float]]
) -> tuple[dict[int, dict[int, Row]], dict[int, list[Candidate]]]:
    """Tracks from the proposals, ``{track_id: {frame: Row}}``, and all fused candidates by frame.

    ``static`` are the reviewed boxes of fixed objects: candidates overlapping one of them with a
    score below ``STATIC_MAX_SCORE`` are removed before linking.
    """
    runs = {name: read_proposals(PROPOSALS / f"{name}.csv.gz") for name in RUNS}
    fused: dict[int, list[Candidate]] = {}
    candidates: dict[int, list[Candidate]] = {}
    for f in range(N_FRAMES):
        cands = fuse({name: runs[name][f] for name in RUNS if f in runs[name]}, RUNS, params)
        fused[f] = cands
        if static and cands:
            hit = iou(np.stack([c.box for c in cands]), static).max(axis=1) >= STATIC_IOU
            cands = [c for c, h in zip(cands, hit, strict=True) if not (h and c.score < STATIC_MAX_SCORE)]
        candidates[f] = drop_parts(cands, params)
    tracks = [t for t in link(candidates, N_FRAMES, params) if keep(t, params)]
    tracks = stitch(dedupe(tracks, params), params)
    out: dict[int, dict[int, Row]] = {}
    for t in tracks:
        out[t.id] = {
            f: Row(f, t.id, tuple(float(v) for v in box), source=src)  # type: ignore[arg-type]
            for f, (box, src) in interpolate(t, params.max_gap).items()
        }
    return out, fused


def _frames(spec: Any) -> range:
    """``[a, b]`` (inclusive) or a single frame number."""
    if isinstance(spec, int):
        return range(spec, spec + 1)
    a, b = spec
    return range(int(a), int(b) + 1)


def _keyframe_boxes(keyframes: dict[int, list[float]]) -> dict[int, tuple[float, float, float, float]]:
    """Boxes for every frame from the first to the last keyframe, linear between keyframes."""
    keys = sorted(int(k) for k in keyframes)
    boxes = {k: np.asarray(keyframes[k], dtype=np.float64) for k in keys}
    out = {}
    for k0, k1 in itertools.pairwise(keys):
        for f in range(k0, k1):
            t = (f - k0) / (k1 - k0)
            out[f] = tuple(float(v) for v in (1 - t) * boxes[k0] + t * boxes[k1])
    out[keys[-1]] = tuple(float(v) for v in boxes[keys[-1]])
    return out  # type: ignore[return-value]


def _snap(box: tuple[float, ...], cands: list[Candidate]) -> tuple[tuple[float, ...], bool]:
    """The candidate box that best overlaps ``box`` (IoU >= SNAP_IOU), else ``box`` itself."""
    good = [c for c in cands if c.score >= SNAP_MIN_SCORE]
    if not good:
        return box, False
    ious = iou(np.asarray(box), np.stack([c.box for c in good]))[0]
    best = int(np.argmax(ious))
    if ious[best] < SNAP_IOU:
        return box, False
    return tuple(float(v) for v in good[best].box), True


def apply_corrections(
    tracks: dict[int, dict[int, Row]], corr: dict[str, Any], candidates: dict[int, list[Candidate]]
) -> Counter[str]:
    """Apply ``corrections.yaml`` in a fixed order; returns how many edits of each kind were made."""
    done: Counter[str] = Counter()

    def need(track: int, what: str) -> dict[int, Row]:
        if track not in tracks:
            raise SystemExit(f"corrections.yaml: {what} names track {track}, which does not exist")
        return tracks[track]

    for c in corr.get("drop_tracks") or []:
        need(c["track"], "drop_tracks")
        del tracks[c["track"]]
        done["drop_track"] += 1
    for c in corr.get("drop_boxes") or []:
        t = need(c["track"], "drop_boxes")
        for f in _frames(c["frames"]):
            t.pop(f, None)
        done["drop_boxes"] += 1
    for c in corr.get("split") or []:
        t = need(c["track"], "split")
        new = c["new_id"]
        if new in tracks:
            raise SystemExit(f"corrections.yaml: split of {c['track']} to new_id {new}, which exists")
        moved = {f: r for f, r in t.items() if f >= c["at"]}
        for f in moved:
            del t[f]
            moved[f].track = new
        tracks[new] = moved
        done["split"] += 1
    for c in corr.get("clear") or []:
        x1, y1, x2, y2 = c["region"]
        for t in tracks.values():
            for f in _frames(c["frames"]):
                r = t.get(f)
                if (
                    r is not None
                    and x1 <= (r.box[0] + r.box[2]) / 2 <= x2
                    and y1 <= (r.box[1] + r.box[3]) / 2 <= y2
                ):
                    del t[f]
                    done["cleared_boxes"] += 1
        done["clear"] += 1
    for c in corr.get("boxes") or []:
        tid = c["track"]
        t = tracks.setdefault(tid, {})
        if not t:
            done["added_track"] += 1
        keys = {int(k) for k in c["keyframes"]}
        for f, box in _keyframe_boxes(c["keyframes"]).items():
            snapped = False
            # Occluded people: detectors see only a part, so do not snap unless told to.
            if c.get("snap", float(c.get("visibility", 1.0)) >= 1.0) and f not in keys:
                box, snapped = _snap(box, candidates.get(f, []))
            t[f] = Row(
                f,
                tid,
                box,
                visibility=float(c.get("visibility", 1.0)),
                source="snap" if snapped else "manual",
            )
            done["snapped_boxes" if snapped else "manual_boxes"] += 1
            # The reviewed box replaces automatic boxes of the same person on other tracks.
            for other_id, other in tracks.items():
                r = other.get(f)
                if (
                    other_id != tid
                    and r is not None
                    and r.source in ("auto", "interp")
                    and iou(np.asarray(r.box), np.asarray(box))[0, 0] >= REPLACE_IOU
                ):
                    del other[f]
                    done["replaced_auto_boxes"] += 1
        done["keyframes"] += len(keys)
    for c in corr.get("merge") or []:
        into = need(c["into"], "merge")
        for other in c["tracks"]:
            src = need(other, "merge")
            clash = sorted(set(src) & set(into))
            if clash:
                raise SystemExit(
                    f"corrections.yaml: merge {other} into {c['into']} overlaps in frames {clash[:5]}"
                )
            for f, r in src.items():
                r.track = c["into"]
                into[f] = r
            del tracks[other]
            done["merge"] += 1
    for c in corr.get("visibility") or []:
        t = need(c["track"], "visibility")
        for f in _frames(c["frames"]):
            if f in t:
                t[f].visibility = min(t[f].visibility, float(c["value"]))
        done["visibility"] += 1
    for c in corr.get("ignore") or []:
        t = need(c["track"], "ignore")
        for f in _frames(c.get("frames", [0, N_FRAMES - 1])):
            if f in t:
                t[f].conf = 0
        done["dont_care"] += 1
    return done


def occlusion_visibility(rows: list[Row]) -> None:
    """Lower each box's visibility by the fraction covered by people standing nearer the camera.

    Nearer = feet (box bottom) lower in the image. Computed on a pixel mask of each box.
    """
    by_frame: dict[int, list[Row]] = {}
    for r in rows:
        by_frame.setdefault(r.frame, []).append(r)
    for frame_rows in by_frame.values():
        for r in frame_rows:
            x1, y1, x2, y2 = (round(v) for v in r.box)
            w, h = max(x2 - x1, 1), max(y2 - y1, 1)
            mask = np.zeros((h, w), dtype=bool)
            for o in frame_rows:
                if o is r or o.box[3] <= r.box[3]:
                    continue
                ox1, oy1, ox2, oy2 = (round(v) for v in o.box)
                mask[
                    max(oy1 - y1, 0) : max(min(oy2 - y1, h), 0), max(ox1 - x1, 0) : max(min(ox2 - x1, w), 0)
                ] = True
            r.visibility = min(r.visibility, round(1.0 - float(mask.mean()), 2))


def clip_to_frame(rows: list[Row], width: int = 768, height: int = 576) -> None:
    for r in rows:
        x1, y1, x2, y2 = r.box
        r.box = (max(x1, 0.0), max(y1, 0.0), min(x2, float(width)), min(y2, float(height)))


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice: YAML keeps the last, silently dropping a section."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[object, object]:
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
        twice = sorted({str(k) for k in keys if keys.count(k) > 1})
        if twice:
            line = node.start_mark.line + 1
            raise SystemExit(f"corrections.yaml: key given twice {twice} near line {line}")
        return super().construct_mapping(node, deep=deep)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REFERENCE)
    parser.add_argument(
        "--auto-only", action="store_true", help="use only the static objects of corrections.yaml"
    )
    parser.add_argument("--corrections", type=Path, default=CORRECTIONS)
    args = parser.parse_args(argv)

    corr = yaml.load(args.corrections.read_text(), Loader=_UniqueKeyLoader) or {}
    static = [o["box"] for o in corr.get("static_objects") or []]
    tracks, candidates = automatic(LinkParams(), static)
    n_auto = len(tracks)
    done: Counter[str] = Counter()
    if not args.auto_only:
        done = apply_corrections(tracks, corr, candidates)
    rows = [r for t in tracks.values() for r in t.values() if 0 <= r.frame < N_FRAMES]
    clip_to_frame(rows)
    occlusion_visibility(rows)
    write_mot(rows, args.out)
    PROVENANCE.parent.mkdir(parents=True, exist_ok=True)
    PROVENANCE.write_text("frame,id,source\n" + "".join(f"{r.frame},{r.track},{r.source}\n" for r in rows))

    per_frame = Counter(r.frame for r in rows)
    counts = [per_frame.get(f, 0) for f in range(N_FRAMES)]
    sources = Counter(r.source for r in rows)
    tiny = [r for r in rows if r.height < 20]
    print(f"automatic tracks: {n_auto}; corrections applied: {dict(done)}")
    print(f"wrote {args.out}: {len(rows)} boxes, {len(tracks)} tracks, {len(per_frame)} frames with people")
    print(
        f"people per frame: mean {np.mean(counts):.2f}, max {max(counts)}; boxes by source: {dict(sources)}"
    )
    print(
        f"boxes < 20 px tall: {len(tiny)} in {len({r.track for r in tiny})} tracks; "
        f"don't-care boxes: {sum(r.conf == 0 for r in rows)}; "
        f"visibility < 1: {sum(r.visibility < 1 for r in rows)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
