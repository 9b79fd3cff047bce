"""Automatic part of the reference: fuse proposals of several detector runs and link them into tracks.

Pure numpy/scipy over proposal arrays (no video, no model), so the result is reproducible from the
committed proposals alone. The steps and their parameters are described in tests/data/README.md.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

Box = npt.NDArray[np.float64]  # (4,) xyxy


@dataclass(frozen=True)
class LinkParams:
    """Parameters of the automatic linking (documented in tests/data/README.md)."""

    min_score: float = 0.2  # proposals below this are not used at all
    fuse_iou: float = 0.5  # boxes of different runs with this IoU are one candidate
    match_iou: float = 0.3  # min IoU between a track's predicted box and a candidate
    max_gap: int = 15  # frames a track may go without a candidate and still be continued
    min_len: int = 5  # tracks with fewer observed frames are dropped
    min_strong: int = 3  # ... and so are tracks with fewer candidates scoring >= strong_score
    strong_score: float = 0.5
    stitch_iou: float = 0.3  # fragment joining: IoU of both extrapolations across the gap
    contained: float = 0.8  # a candidate this much inside a taller, better-scored one is a part of it
    part_height: float = 0.8  # ... if it is at most this fraction of the other's height
    explained: float = 0.7  # a box this much covered by two better-scored ones is dropped
    dup_iou: float = 0.4  # two simultaneous tracks with this mean IoU are one person
    max_height_ratio: float = 1.35  # a track may not continue with a box this much taller or shorter


def iou(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    aa = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    ab = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / np.maximum(aa[:, None] + ab[None, :] - inter, 1e-9))


@dataclass
class Candidate:
    box: Box
    score: float  # best score over the runs
    support: tuple[str, ...]  # runs that proposed it


def fuse(runs: dict[str, npt.NDArray[np.float64]], order: list[str], params: LinkParams) -> list[Candidate]:
    """One frame: cluster the boxes of all runs; each cluster becomes one candidate.

    Boxes are clustered greedily, run by run in ``order`` and by score within a run (IoU >=
    ``fuse_iou`` with the cluster's seed). The box of a cluster is taken from the first run in
    ``order`` that contributed to it (the finest tiling first: it localises small people best); its
    score is the best score of any run.
    """
    items = []
    for name in order:
        arr = runs.get(name)
        if arr is None:
            continue
        for row in arr[arr[:, 4] >= params.min_score]:
            items.append((name, row[:4], float(row[4])))
    # Seeds come from the finest run first (then by score): a high-scored loose box of a coarser
    # run must not decide the box of a person that the fine run localises well.
    rank = {name: i for i, name in enumerate(order)}
    items.sort(key=lambda t: (rank[t[0]], -t[2]))
    clusters: list[list[tuple[str, Box, float]]] = []
    for it in items:
        for cl in clusters:
            if iou(cl[0][1], it[1])[0, 0] >= params.fuse_iou:
                cl.append(it)
                break
        else:
            clusters.append([it])
    out = []
    for cl in clusters:
        names = {n for n, _, _ in cl}
        pick = next(n for n in order if n in names)
        best = max((m for m in cl if m[0] == pick), key=lambda m: m[2])
        out.append(Candidate(best[1].copy(), max(m[2] for m in cl), tuple(sorted(names))))
    return out


def _inside(a: Box, b: Box) -> float:
    """Fraction of box ``a``'s area inside box ``b``."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return float(ix * iy / max((a[2] - a[0]) * (a[3] - a[1]), 1e-9))


def drop_parts(cands: list[Candidate], params: LinkParams) -> list[Candidate]:
    """Drop candidates that are not one whole person.

    * a part (upper body, head and shoulders): mostly inside a taller candidate with a better score;
    * a group box: a box that holds two or more other (non-part) candidates.
    """

    def is_part(c: Candidate) -> bool:
        h = c.box[3] - c.box[1]
        return any(
            o is not c
            and o.score >= c.score
            and h <= params.part_height * (o.box[3] - o.box[1])
            and _inside(c.box, o.box) >= params.contained
            for o in cands
        )

    whole = [c for c in cands if not is_part(c)]
    whole = [
        c for c in whole if sum(o is not c and _inside(o.box, c.box) >= params.contained for o in whole) < 2
    ]
    return [c for c in whole if not _explained(c, whole, params)]


def _explained(c: Candidate, cands: list[Candidate], params: LinkParams) -> bool:
    """True when two or more better-scored candidates together cover most of ``c`` (a box straddling
    two people walking side by side)."""
    better = [o for o in cands if o is not c and o.score > c.score and _inside(c.box, o.box) > 0.05]
    if len(better) < 2 or max(_inside(c.box, o.box) for o in better) >= params.explained:
        return False  # no straddle: one box alone covers c (then c is the tighter one)
    x1, y1, x2, y2 = (round(v) for v in c.box)
    mask = np.zeros((max(y2 - y1, 1), max(x2 - x1, 1)), dtype=bool)
    for o in better:
        ox1, oy1, ox2, oy2 = (round(v) for v in o.box)
        mask[max(oy1 - y1, 0) : max(oy2 - y1, 0), max(ox1 - x1, 0) : max(ox2 - x1, 0)] = True
    return float(mask.mean()) >= params.explained


def dedupe(tracks: list[Track], params: LinkParams) -> list[Track]:
    """Merge tracks that follow the same person at the same time: mean IoU >= ``dup_iou`` over
    >= 3 common frames, gaps filled by interpolation. Where both saw the person, the
    better-scored candidate is kept."""
    tracks = sorted(tracks, key=lambda t: -len(t.obs))
    out: list[Track] = []
    for t in tracks:
        tb = interpolate(t, params.max_gap)
        for k in out:
            kb = interpolate(k, params.max_gap)
            common = sorted(set(tb) & set(kb))
            if len(common) < 3:
                continue
            m = np.mean([iou(tb[f][0], kb[f][0])[0, 0] for f in common])
            if m >= params.dup_iou:
                for f, c in t.obs.items():
                    if f not in k.obs or c.score > k.obs[f].score:
                        k.obs[f] = c
                break
        else:
            out.append(t)
    return out


@dataclass
class Track:
    id: int
    obs: dict[int, Candidate] = field(default_factory=dict)

    @property
    def first(self) -> int:
        return min(self.obs)

    @property
    def last(self) -> int:
        return max(self.obs)

    def velocity(self, at_end: bool = True, span: int = 5) -> Box:
        """Mean per-frame change of the box over the last (or first) ``span`` observations."""
        frames = sorted(self.obs)
        sel = frames[-span:] if at_end else frames[:span]
        if len(sel) < 2:
            return np.zeros(4)
        return (self.obs[sel[-1]].box - self.obs[sel[0]].box) / (sel[-1] - sel[0])

    def predict(self, frame: int) -> Box:
        """Box extrapolated to ``frame`` from the nearest end (position only; size held)."""
        if frame >= self.last:
            v = self.velocity(True)
            base, dt = self.obs[self.last].box, frame - self.last
        else:
            v = self.velocity(False)
            base, dt = self.obs[self.first].box, frame - self.first
        shift = np.array([v[0] + v[2], v[1] + v[3]]) / 2 * dt
        return base + np.array([shift[0], shift[1], shift[0], shift[1]])


def link(candidates: dict[int, list[Candidate]], n_frames: int, params: LinkParams) -> list[Track]:
    """Forward online association (cascade by time since last update, Hungarian on IoU)."""
    tracks: list[Track] = []
    next_id = 1
    for f in range(n_frames):
        cands = candidates.get(f, [])
        free = list(range(len(cands)))
        active = [t for t in tracks if 0 < f - t.last <= params.max_gap]
        for gap in range(1, params.max_gap + 1):
            group = [t for t in active if f - t.last == gap]
            if not group or not free:
                continue
            pred = np.stack([t.predict(f) for t in group])
            boxes = np.stack([cands[i].box for i in free])
            sim = iou(pred, boxes)
            h_track = pred[:, 3] - pred[:, 1]
            ratio = (boxes[:, 3] - boxes[:, 1])[None, :] / np.maximum(h_track[:, None], 1e-9)
            sim[(ratio > params.max_height_ratio) | (ratio < 1 / params.max_height_ratio)] = 0.0
            rows, cols = linear_sum_assignment(-sim)
            taken = []
            for r, c in zip(rows, cols, strict=True):
                if sim[r, c] >= params.match_iou:
                    group[r].obs[f] = cands[free[c]]
                    taken.append(free[c])
            free = [i for i in free if i not in taken]
        for i in free:
            tracks.append(Track(next_id, {f: cands[i]}))
            next_id += 1
    return tracks


def keep(track: Track, params: LinkParams) -> bool:
    strong = sum(c.score >= params.strong_score for c in track.obs.values())
    return len(track.obs) >= params.min_len and strong >= params.min_strong


def stitch(tracks: list[Track], params: LinkParams) -> list[Track]:
    """Join fragments A -> B when B starts within ``max_gap`` frames after A ends and the forward
    extrapolation of A and the backward extrapolation of B both overlap the other's end box."""
    tracks = sorted(tracks, key=lambda t: t.first)
    merged = True
    while merged:
        merged = False
        best: tuple[float, Track, Track] | None = None
        for a in tracks:
            for b in tracks:
                gap = b.first - a.last
                if a is b or not 1 <= gap <= params.max_gap:
                    continue
                fwd = iou(a.predict(b.first), b.obs[b.first].box)[0, 0]
                bwd = iou(b.predict(a.last), a.obs[a.last].box)[0, 0]
                s = min(fwd, bwd)
                if s >= params.stitch_iou and (best is None or s > best[0]):
                    best = (s, a, b)
        if best is not None:
            _, a, b = best
            a.obs.update(b.obs)
            tracks.remove(b)
            merged = True
    return tracks


def interpolate(track: Track, max_gap: int) -> dict[int, tuple[Box, str]]:
    """Boxes of a track in every frame it is observed, gaps up to ``max_gap`` filled linearly."""
    frames = sorted(track.obs)
    out: dict[int, tuple[Box, str]] = {f: (track.obs[f].box, "auto") for f in frames}
    for f0, f1 in itertools.pairwise(frames):
        if 1 < f1 - f0 <= max_gap + 1:
            b0, b1 = track.obs[f0].box, track.obs[f1].box
            for f in range(f0 + 1, f1):
                t = (f - f0) / (f1 - f0)
                out[f] = ((1 - t) * b0 + t * b1, "interp")
    return out
