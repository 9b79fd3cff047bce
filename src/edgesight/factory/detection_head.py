"""The trainable part of a NanoDet detector: its head towers and 1x1 heads, with the GFL losses NanoDet was trained with.

Targets are assigned once per image (ATSS: per stride the 9 cells nearest a box's centre, kept if
their anchor overlaps the box more than the mean plus the standard deviation of those overlaps
and their centre lies inside the box) because they depend only on the boxes, not on the weights.
Losses: quality focal loss on the class scores (the target is the IoU of the predicted box),
distribution focal loss and GIoU loss on the box distributions of positive cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional as F

from edgesight.factory.nanodet_graph import ConvWeights, TowerLayer

__all__ = ["Grid", "NanoDetHead", "Targets", "assign", "boxes_from", "loss"]

_ATSS_TOPK = 9
_ANCHOR_SCALE = 5.0  # NanoDet's ATSS anchor side, in strides
_PRIOR_BIAS = -4.595  # sigmoid(-4.595) = 0.01: a new class starts out rare
_DFL_WEIGHT, _GIOU_WEIGHT = 0.25, 2.0


@dataclass(frozen=True)
class Grid:
    """Every head cell of an input: centres (P, 2) and strides (P,), strides in order."""

    centres: torch.Tensor
    strides: torch.Tensor
    shapes: tuple[tuple[int, int], ...]

    @classmethod
    def build(cls, width: int, height: int, strides: list[int], centre_offset: float = 0.5) -> Grid:
        """``centre_offset``: 0.5 puts cell centres mid-cell (NanoDet), 0 on the corners (NanoDet-Plus)."""
        centres, per_cell, shapes = [], [], []
        for s in strides:
            cols, rows = -(-width // s), -(-height // s)
            row, col = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
            centres.append(torch.stack([(col.reshape(-1) + centre_offset) * s, (row.reshape(-1) + centre_offset) * s], 1))
            per_cell.append(torch.full((rows * cols,), float(s)))
            shapes.append((rows, cols))
        return cls(torch.cat(centres).float(), torch.cat(per_cell), tuple(shapes))


@dataclass(frozen=True)
class Targets:
    """One image's assignment: positive cell indices, their box (input pixels) and class."""

    cells: torch.Tensor
    boxes: torch.Tensor
    classes: torch.Tensor


def _iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` xyxy boxes."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(-1)
    return inter / (area_a[:, None] + area_b[None] - inter + 1e-9)


def assign(grid: Grid, boxes: npt.NDArray[np.float32], classes: npt.NDArray[np.int64]) -> Targets:
    """ATSS assignment of the boxes (input pixels) of one image to head cells."""
    if len(boxes) == 0:
        empty = torch.zeros(0, dtype=torch.long)
        return Targets(empty, torch.zeros(0, 4), empty)
    gt = torch.from_numpy(boxes).float()
    half = grid.strides[:, None] * _ANCHOR_SCALE / 2
    anchors = torch.cat([grid.centres - half, grid.centres + half], 1)
    iou = _iou(gt, anchors)  # (G, P)
    gt_centre = (gt[:, :2] + gt[:, 2:]) / 2
    dist = torch.cdist(gt_centre, grid.centres)  # (G, P)
    candidates = []
    start = 0
    for rows, cols in grid.shapes:
        end = start + rows * cols
        k = min(_ATSS_TOPK, end - start)
        candidates.append(dist[:, start:end].topk(k, largest=False).indices + start)
        start = end
    cand = torch.cat(candidates, 1)  # (G, K)
    cand_iou = iou.gather(1, cand)
    threshold = cand_iou.mean(1, keepdim=True) + cand_iou.std(1, keepdim=True)
    centres = grid.centres[cand]  # (G, K, 2)
    inside = ((centres > gt[:, None, :2]) & (centres < gt[:, None, 2:])).all(-1)
    positive = (cand_iou >= threshold) & inside
    # A cell claimed by several boxes goes to the one it overlaps most.
    best_iou = torch.full((len(grid.centres),), -1.0)
    owner = torch.full((len(grid.centres),), -1, dtype=torch.long)
    for g in range(len(gt)):
        cells = cand[g][positive[g]]
        better = iou[g, cells] > best_iou[cells]
        best_iou[cells[better]] = iou[g, cells[better]]
        owner[cells[better]] = g
    cells = torch.nonzero(owner >= 0).reshape(-1)
    return Targets(cells, gt[owner[cells]], torch.from_numpy(classes).long()[owner[cells]])


class NanoDetHead(nn.Module):
    """The trainable end of each stride: its tower (convs from the base network) and its 1x1 head conv.

    Reads cached features ``(B, C, H, W)`` per stride and outputs ``classes + 4 * bins`` per cell.
    With no tower, only the 1x1 heads train.
    """

    bin_index: torch.Tensor

    def __init__(
        self,
        channels: list[int],
        num_classes: int,
        bins: int,
        towers: list[tuple[TowerLayer, ...]] | None = None,
        tower_init: list[list[ConvWeights]] | None = None,
    ) -> None:
        super().__init__()
        self.num_classes, self.bins = num_classes, bins
        layers = towers or [() for _ in channels]
        weights = tower_init or [[] for _ in channels]
        self.towers = nn.ModuleList(_tower(t, w) for t, w in zip(layers, weights, strict=True))
        out_channels = [_out_channels(w, c) for w, c in zip(weights, channels, strict=True)]
        self.convs = nn.ModuleList(nn.Conv2d(c, num_classes + 4 * bins, 1) for c in out_channels)
        self.register_buffer("bin_index", torch.arange(bins, dtype=torch.float32))
        # Channels-last: PyTorch's CPU depthwise and pointwise convs (and their backward passes) run
        # about 13x faster in NHWC than in NCHW (NanoDet-Plus' towers, 16 images at 416x416).
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def init_from(self, base: list[ConvWeights], base_rows: list[int | None]) -> None:
        """Start from the base network's heads: class ``i`` takes base row ``base_rows[i]`` (None: new class)."""
        base_classes = base[0][0].shape[0] - 4 * self.bins
        with torch.no_grad():
            for conv, (w, b) in zip(self.layers(), base, strict=True):
                weight, bias = conv.weight.view(conv.weight.shape[0], -1), _bias(conv)
                weight[self.num_classes :] = torch.from_numpy(w[base_classes:])
                bias[self.num_classes :] = torch.from_numpy(b[base_classes:])
                for i, row in enumerate(base_rows):
                    if row is None:
                        nn.init.normal_(weight[i], std=0.01)
                        bias[i] = _PRIOR_BIAS
                    else:
                        weight[i] = torch.from_numpy(w[row])
                        bias[i] = float(b[row])

    def export(self) -> list[ConvWeights]:
        """Head weights ``(out, in)`` and biases per stride, as ``nanodet_graph.with_heads`` takes them."""
        return [(_np(c.weight).reshape(c.weight.shape[0], -1), _np(_bias(c))) for c in self.layers()]

    def export_towers(self) -> list[list[ConvWeights]]:
        """Tower conv weights per stride, as ``nanodet_graph.with_heads`` takes them."""
        return [
            [(_np(m.weight), _np(_bias(m))) for m in cast(nn.Sequential, tower) if isinstance(m, nn.Conv2d)]
            for tower in self.towers
        ]

    def layers(self) -> list[nn.Conv2d]:
        """The per-stride 1x1 head convs."""
        return [cast(nn.Conv2d, c) for c in self.convs]

    def forward(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Features ``(B, C, H, W)`` per stride -> class logits ``(B, P, classes)``, distributions ``(B, P, 4, bins)``.

        Cells are in row-major order per stride, strides in order (the decoder's order).
        """
        outs = [
            conv(tower(f.float().contiguous(memory_format=torch.channels_last)))
            for tower, conv, f in zip(self.towers, self.convs, features, strict=True)
        ]
        out = torch.cat([o.flatten(2).transpose(1, 2) for o in outs], 1)
        return out[..., : self.num_classes], out[..., self.num_classes :].reshape(*out.shape[:2], 4, self.bins)

    def distances(self, reg: torch.Tensor) -> torch.Tensor:
        """Expected ``(left, top, right, bottom)`` in strides from distribution logits."""
        return (reg.softmax(-1) * self.bin_index).sum(-1)


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    """Every conv here has a bias (the base network's, or the head's)."""
    return cast(torch.Tensor, conv.bias)


def _np(t: torch.Tensor) -> npt.NDArray[np.float32]:
    return cast(npt.NDArray[np.float32], t.detach().numpy().copy())


def _out_channels(weights: list[ConvWeights], channels: int) -> int:
    return int(weights[-1][0].shape[0]) if weights else channels


def _tower(layers: tuple[TowerLayer, ...], weights: list[ConvWeights]) -> nn.Sequential:
    """The base network's tower layers as torch modules, starting from its weights."""
    modules: list[nn.Module] = []
    convs = iter(weights)
    for layer in layers:
        if layer.op == "LeakyRelu":
            modules.append(nn.LeakyReLU(layer.alpha))
        elif layer.op == "Relu":
            modules.append(nn.ReLU())
        else:
            w, b = next(convs)
            conv = nn.Conv2d(
                w.shape[1] * layer.group, w.shape[0], (w.shape[2], w.shape[3]), stride=layer.stride,
                padding=layer.padding, dilation=layer.dilation, groups=layer.group,
            )  # fmt: skip
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(w))
                _bias(conv).copy_(torch.from_numpy(b))
            modules.append(conv)
    return nn.Sequential(*modules)


def boxes_from(grid: Grid, distances: torch.Tensor) -> torch.Tensor:
    """Cell distances (in strides) to xyxy boxes in input pixels; ``distances`` is ``(..., P, 4)``."""
    d = distances * grid.strides[:, None]
    return torch.cat([grid.centres - d[..., :2], grid.centres + d[..., 2:]], -1)


def _giou_loss(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lt = torch.maximum(pred[:, :2], target[:, :2])
    rb = torch.minimum(pred[:, 2:], target[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = (pred[:, 2:] - pred[:, :2]).clamp(min=0).prod(-1) + (target[:, 2:] - target[:, :2]).prod(-1) - inter
    iou = inter / (union + 1e-9)
    hull = (torch.maximum(pred[:, 2:], target[:, 2:]) - torch.minimum(pred[:, :2], target[:, :2])).prod(-1)
    return 1 - iou + (hull - union) / (hull + 1e-9), iou.detach()


def loss(
    head: NanoDetHead, grid: Grid, cls: torch.Tensor, reg: torch.Tensor, targets: list[Targets]
) -> torch.Tensor:
    """GFL loss of a batch: quality focal + distribution focal + GIoU, averaged over positive cells.

    All positive cells of the batch are gathered at once: indexing per image would make autograd
    build and add one full-size gradient per image.
    """
    images = torch.cat([torch.full((len(t.cells),), b, dtype=torch.long) for b, t in enumerate(targets)])
    cells = torch.cat([t.cells for t in targets])
    boxes = torch.cat([t.boxes for t in targets])
    classes = torch.cat([t.classes for t in targets])
    positives = max(1, len(cells))
    quality = torch.zeros_like(cls)
    total = cls.new_zeros(())
    if len(cells):
        pred_reg = reg[images, cells]
        stride = grid.strides[cells, None]
        centre = grid.centres[cells]
        pred_boxes = boxes_from(_cells(grid, cells), head.distances(pred_reg))
        giou, iou = _giou_loss(pred_boxes, boxes)
        quality[images, cells, classes] = iou.clamp(min=0.0)
        target_dist = torch.cat([centre - boxes[:, :2], boxes[:, 2:] - centre], 1) / stride
        target_dist = target_dist.clamp(0, head.bins - 1 - 0.01)
        left = target_dist.floor().long()
        w_right = target_dist - left
        logp = pred_reg.log_softmax(-1)
        dfl = -(logp.gather(-1, left[..., None])[..., 0] * (1 - w_right)) - (
            logp.gather(-1, (left + 1)[..., None])[..., 0] * w_right
        )
        total = _GIOU_WEIGHT * giou.sum() / positives + _DFL_WEIGHT * dfl.mean(-1).sum() / positives
    sigma = cls.sigmoid()
    qfl = F.binary_cross_entropy_with_logits(cls, quality, reduction="none") * (sigma - quality).abs().pow(2)
    return total + qfl.sum() / positives


def _cells(grid: Grid, cells: torch.Tensor) -> Grid:
    return Grid(grid.centres[cells], grid.strides[cells], grid.shapes)
