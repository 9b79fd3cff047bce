"""Pure geometry over numpy arrays: anchors, lines, polygons, homographies and box motion.

Nothing here knows about tracks, events or configs; everything takes arrays and returns new ones.
"""

from edgesight.geometry.boxes import (
    FOOTPRINT_HEIGHT_FRACTION,
    Anchor,
    anchor_points,
    box_iou,
    rule_anchor_points,
)
from edgesight.geometry.homography import apply_homography, collinear_triple, homography_from_points
from edgesight.geometry.lines import cross_2d, crossing_points, line_sides, segments_cross, segments_intersect
from edgesight.geometry.polygons import (
    crossed_edge,
    crossed_edges,
    pad_polygons,
    points_in_polygon,
    points_in_polygons,
    polygon_area,
    polygon_problem,
    validate_polygon,
)

__all__ = [
    "FOOTPRINT_HEIGHT_FRACTION",
    "Anchor",
    "anchor_points",
    "apply_homography",
    "box_iou",
    "collinear_triple",
    "cross_2d",
    "crossed_edge",
    "crossed_edges",
    "crossing_points",
    "homography_from_points",
    "line_sides",
    "pad_polygons",
    "points_in_polygon",
    "points_in_polygons",
    "polygon_area",
    "polygon_problem",
    "rule_anchor_points",
    "segments_cross",
    "segments_intersect",
    "validate_polygon",
]
