"""Strips: polylines with a half-width each (road segments), indexed for fast point lookups.

A point is in a strip when its distance to the strip's centre line, in the local metric frame of
``geometry``, is at most the half-width (so a strip has round ends, like a buffer). The straight
pieces of every centre line are bucketed by their widened bounding boxes on the same uniform grid
as ``geometry.PolygonIndex``; a batch of points is measured only against the pieces in its cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from rules.geometry import (
    Corridor,
    FloatArray,
    IntArray,
    LocalFrame,
    _auto_cell,
    _cell_of,
    _centre_frame,
    _cover,
    _frozen,
    _frozen_int,
    cell_pairs,
    ids_per_point,
)

StripItem = tuple[str, Sequence[tuple[float, float]], float]  # (id, (lon, lat) centre line, half-width m)


@dataclass(frozen=True, slots=True, eq=False)
class StripIndex:
    """Strips cut into straight pieces, bucketed on a uniform grid: which strips contain each point."""

    ids: tuple[str, ...]
    half_width_m: FloatArray  # (k,) per strip
    frame: LocalFrame
    start_xy: FloatArray  # (n, 2) start of each piece
    unit_xy: FloatArray  # (n, 2) unit direction of each piece (zero for a repeated vertex)
    length_m: FloatArray  # (n,) piece lengths
    owner: IntArray  # (n,) strip index of each piece
    cell_m: float
    origin_xy: tuple[float, float]
    shape: tuple[int, int]
    cell_keys: IntArray  # sorted cell key of each (cell, piece) pair
    cell_pieces: IntArray  # piece index of each pair

    @classmethod
    def build(cls, items: Sequence[StripItem], *, frame: LocalFrame | None = None) -> StripIndex:
        """Index (id, centre line, half-width) triples; the frame defaults to their centre."""
        empty_f, empty_i = _frozen(np.zeros((0, 2))), _frozen_int(np.zeros(0, dtype=np.intp))
        if not items:
            return cls(
                (),
                _frozen(np.zeros(0)),
                frame or LocalFrame(0.0, 0.0),
                empty_f,
                empty_f,
                _frozen(np.zeros(0)),
                empty_i,
                1.0,
                (0.0, 0.0),
                (0, 0),
                empty_i,
                empty_i,
            )
        frame = frame or _centre_frame(np.vstack([np.asarray(line, dtype=np.float64) for _, line, _ in items]))
        lines = [Corridor.from_route(line, width, frame) for _, line, width in items]
        owner = np.concatenate([np.full(c.length_m.size, i, dtype=np.intp) for i, c in enumerate(lines)])
        start, unit = np.vstack([c.start_xy for c in lines]), np.vstack([c.unit_xy for c in lines])
        length = np.concatenate([c.length_m for c in lines])
        half = np.array([c.width_m for c in lines])
        boxes = _piece_boxes(start, unit, length, half[owner])
        cell = _auto_cell(boxes)
        low = (float(boxes[:, 0].min()), float(boxes[:, 1].min()))
        lo_cells, hi_cells = _cell_of(boxes[:, :2], low, cell), _cell_of(boxes[:, 2:], low, cell)
        shape = (int(hi_cells[:, 0].max()) + 1, int(hi_cells[:, 1].max()) + 1)
        keys, pieces = _cover(lo_cells, hi_cells, shape[1])
        return cls(
            tuple(i for i, _, _ in items),
            _frozen(half),
            frame,
            _frozen(start),
            _frozen(unit),
            _frozen(length),
            _frozen_int(owner),
            cell,
            low,
            shape,
            keys,
            pieces,
        )

    def query(self, lon: ArrayLike, lat: ArrayLike) -> tuple[IntArray, IntArray]:
        """Return (point index, strip index) of every containment, points flattened, sorted, unique."""
        x, y = (a.ravel() for a in np.broadcast_arrays(*self.frame.to_xy(lon, lat)))
        cells = _cell_of(np.column_stack([x, y]), self.origin_xy, self.cell_m)
        point, piece = cell_pairs(cells, self.shape, self.cell_keys, self.cell_pieces)
        strip = self.owner[piece]
        inside = _piece_d2(x[point], y[point], self, piece) <= self.half_width_m[strip] ** 2
        k = max(len(self.ids), 1)
        found = np.unique(point[inside] * k + strip[inside])  # sorted by point, then strip
        return found // k, found % k

    def containing(self, lon: ArrayLike, lat: ArrayLike) -> list[list[str]]:
        """Return, for each point (flattened), the ids of the strips that contain it."""
        return ids_per_point(lon, lat, self.query(lon, lat), self.ids)

    def ids_at(self, lon: float, lat: float) -> list[str]:
        """Return the ids of the strips containing one point."""
        return self.containing(lon, lat)[0]


def _piece_boxes(start: FloatArray, unit: FloatArray, length: FloatArray, half: FloatArray) -> FloatArray:
    """Return each piece's bounding box widened by its strip's half-width: (n, 4) xmin, ymin, xmax, ymax."""
    end = start + unit * length[:, None]
    lo, hi = np.minimum(start, end) - half[:, None], np.maximum(start, end) + half[:, None]
    return np.hstack([lo, hi])


def _piece_d2(x: FloatArray, y: FloatArray, index: StripIndex, piece: IntArray) -> FloatArray:
    """Return the squared distance of each point to its paired piece (arrays of equal length)."""
    dx, dy = x - index.start_xy[piece, 0], y - index.start_xy[piece, 1]
    ux, uy = index.unit_xy[piece, 0], index.unit_xy[piece, 1]
    along = np.clip(dx * ux + dy * uy, 0.0, index.length_m[piece])
    return np.asarray((dx - along * ux) ** 2 + (dy - along * uy) ** 2)
