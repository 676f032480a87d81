"""Vectorised planar geometry for the hot path: a local metric frame and prepared route corridors.

Positions are projected into a local equirectangular frame around an origin (metres, spherical
Earth of WGS-84 mean radius). Within ~15 km of the origin distances agree with a UTM projection to
about 0.4 %, which is far below GPS noise at corridor scale (tens of metres). Route segments are
straight lines in this frame; for segments of a few kilometres or less that differs from the
geodesic by centimetres, so densify longer segments if a route ever has them. No antimeridian
handling: a city never straddles it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

EARTH_RADIUS_M = 6_371_008.8  # WGS-84 mean radius (IUGG R1)
_MAX_CELLS = 1 << 20  # points x segments evaluated at once; bounds the temporary arrays

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """An equirectangular projection around an origin; x east and y north, in metres."""

    origin_lon: float
    origin_lat: float

    def to_xy(self, lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Project lon/lat degrees (scalars or arrays) to local x/y metres."""
        kx = EARTH_RADIUS_M * np.cos(np.radians(self.origin_lat))
        x = np.radians(np.asarray(lon, dtype=np.float64) - self.origin_lon) * kx
        y = np.radians(np.asarray(lat, dtype=np.float64) - self.origin_lat) * EARTH_RADIUS_M
        return x, y

    def to_lonlat(self, x: ArrayLike, y: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Unproject local x/y metres back to lon/lat degrees."""
        kx = EARTH_RADIUS_M * np.cos(np.radians(self.origin_lat))
        lon = self.origin_lon + np.degrees(np.asarray(x, dtype=np.float64) / kx)
        lat = self.origin_lat + np.degrees(np.asarray(y, dtype=np.float64) / EARTH_RADIUS_M)
        return lon, lat


class Nearest(NamedTuple):
    """Where points fall relative to a route: distance, nearest segment and progress along it."""

    distance_m: FloatArray
    segment: IntArray
    progress_m: FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class Corridor:
    """A route polyline prepared for fast point-to-route distances, with its corridor width."""

    frame: LocalFrame
    start_xy: FloatArray  # (n, 2) segment start points
    unit_xy: FloatArray  # (n, 2) unit direction of each segment (zero for a repeated vertex)
    length_m: FloatArray  # (n,) segment lengths
    offset_m: FloatArray  # (n,) distance along the route at each segment start
    width_m: float

    @classmethod
    def from_route(
        cls, route: Sequence[tuple[float, float]], width_m: float, frame: LocalFrame | None = None
    ) -> Corridor:
        """Prepare a corridor from (lon, lat) vertices; the frame defaults to the route's centre."""
        lonlat = np.asarray(route, dtype=np.float64)
        if lonlat.ndim != 2 or lonlat.shape[0] < 2 or lonlat.shape[1] != 2:
            raise ValueError(f"a route needs two or more (lon, lat) points, got {lonlat.shape}")
        if not np.isfinite(lonlat).all():
            raise ValueError("route coordinates must be finite")
        frame = frame or _centre_frame(lonlat)
        x, y = frame.to_xy(lonlat[:, 0], lonlat[:, 1])
        xy = np.column_stack([x, y])
        delta = np.diff(xy, axis=0)
        length = np.hypot(delta[:, 0], delta[:, 1])
        nonzero = length[:, None] > 0
        unit = np.divide(delta, length[:, None], out=np.zeros_like(delta), where=nonzero)
        offset = np.concatenate([[0.0], np.cumsum(length)[:-1]])
        start, unit, length, offset = (_frozen(a) for a in (xy[:-1], unit, length, offset))
        return cls(frame, start, unit, length, offset, width_m=float(width_m))

    @property
    def total_length_m(self) -> float:
        """Length of the whole route in metres."""
        return float(self.offset_m[-1] + self.length_m[-1])

    def nearest(self, lon: ArrayLike, lat: ArrayLike) -> Nearest:
        """Return distance, nearest segment index and route progress for each point (broadcast)."""
        x, y = np.broadcast_arrays(*self.frame.to_xy(lon, lat))
        xs, ys = x.ravel(), y.ravel()
        step = max(1, _MAX_CELLS // self.length_m.size)
        starts = range(0, max(xs.size, 1), step)  # one (empty) block even for no points
        blocks = [self._nearest_block(xs[i : i + step], ys[i : i + step]) for i in starts]
        columns = zip(*blocks, strict=True)
        dist, seg, progress = (np.concatenate(c).reshape(x.shape) for c in columns)
        return Nearest(dist, seg, progress)

    def distance_m(self, lon: ArrayLike, lat: ArrayLike) -> FloatArray:
        """Return the distance in metres from each point to the nearest route segment."""
        return self.nearest(lon, lat).distance_m

    def distance_one_m(self, lon: float, lat: float) -> float:
        """Return the distance in metres from one point to the route."""
        return float(self.nearest(lon, lat).distance_m)

    def _nearest_block(
        self, x: FloatArray, y: FloatArray
    ) -> tuple[FloatArray, IntArray, FloatArray]:
        """Evaluate points (m,) against all segments (n,) as (m, n) arrays; keep the closest."""
        dx = x[:, None] - self.start_xy[:, 0]
        dy = y[:, None] - self.start_xy[:, 1]
        along = np.clip(dx * self.unit_xy[:, 0] + dy * self.unit_xy[:, 1], 0.0, self.length_m)
        d2 = (dx - along * self.unit_xy[:, 0]) ** 2 + (dy - along * self.unit_xy[:, 1]) ** 2
        seg = np.argmin(d2, axis=1)
        rows = np.arange(x.size)
        return np.sqrt(d2[rows, seg]), seg, self.offset_m[seg] + along[rows, seg]


def _centre_frame(lonlat: FloatArray) -> LocalFrame:
    """Return a frame centred on the bounding box of the points, to keep distortion small."""
    lo, hi = lonlat.min(axis=0), lonlat.max(axis=0)
    return LocalFrame(float((lo[0] + hi[0]) / 2), float((lo[1] + hi[1]) / 2))


def _frozen(a: FloatArray) -> FloatArray:
    """Return a read-only contiguous copy, since corridors are cached and shared."""
    out = np.ascontiguousarray(a, dtype=np.float64).copy()
    out.flags.writeable = False
    return out
