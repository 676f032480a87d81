"""Flat local geometry for the simulator: a metric projection around the city centre, and polylines.

An equirectangular projection scaled by the ellipsoid's radii at the centre keeps distances within
0.1 % over a district (~12 km across), which is all the simulator needs; the tests check it against
pyproj's geodesics. It is affine in lon/lat, so a point placed on a route segment here lies on the
straight lon/lat segment any other tool draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

WGS84_A = 6_378_137.0
WGS84_E2 = 6.694_379_990_14e-3

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LocalProjection:
    """Equirectangular projection (x east, y north, metres) scaled by the WGS-84 radii at the origin."""

    lon0: float
    lat0: float

    @property
    def metres_per_deg(self) -> tuple[float, float]:
        """Return metres per degree of longitude and of latitude at the origin."""
        sin2 = math.sin(math.radians(self.lat0)) ** 2
        prime_vertical = WGS84_A / math.sqrt(1.0 - WGS84_E2 * sin2)
        meridian = WGS84_A * (1.0 - WGS84_E2) / (1.0 - WGS84_E2 * sin2) ** 1.5
        rad = math.pi / 180.0
        return prime_vertical * math.cos(math.radians(self.lat0)) * rad, meridian * rad

    def to_xy(self, lonlat: Sequence[Sequence[float]] | FloatArray) -> FloatArray:
        """Project an (n, 2) array of lon/lat degrees to local metres."""
        a = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
        kx, ky = self.metres_per_deg
        return np.column_stack([(a[:, 0] - self.lon0) * kx, (a[:, 1] - self.lat0) * ky])

    def to_lonlat(self, x: float, y: float) -> tuple[float, float]:
        """Return the lon/lat degrees of a local point."""
        kx, ky = self.metres_per_deg
        return self.lon0 + x / kx, self.lat0 + y / ky


def compass_deg(dx: float, dy: float) -> float:
    """Return the compass bearing (0 = north, clockwise) of a direction."""
    return math.degrees(math.atan2(dx, dy)) % 360.0


class Path:
    """A polyline in local metres with arc-length lookup (``s`` = metres from the first point)."""

    def __init__(self, xy: FloatArray) -> None:
        pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        keep = np.concatenate([[True], np.any(np.diff(pts, axis=0) != 0.0, axis=1)])
        self.xy: FloatArray = pts[keep]
        if len(self.xy) < 2:
            raise ValueError("a path needs two distinct points")
        seg = np.diff(self.xy, axis=0)
        self.seg_len: FloatArray = np.hypot(seg[:, 0], seg[:, 1])
        self.cum: FloatArray = np.concatenate([[0.0], np.cumsum(self.seg_len)])
        self.length = float(self.cum[-1])

    @classmethod
    def from_lonlat(cls, points: Sequence[Sequence[float]], proj: LocalProjection) -> Path:
        """Build a path from lon/lat points."""
        return cls(proj.to_xy(points))

    def locate(self, s: float) -> tuple[int, float]:
        """Return (segment index, fraction along it) of arc length ``s`` (clamped to the path)."""
        s = min(max(s, 0.0), self.length)
        i = int(np.searchsorted(self.cum, s, side="right")) - 1
        i = min(max(i, 0), len(self.seg_len) - 1)
        return i, (s - float(self.cum[i])) / float(self.seg_len[i])

    def point_at(self, s: float) -> FloatArray:
        """Return the point at arc length ``s``."""
        i, f = self.locate(s)
        return np.asarray(self.xy[i] + f * (self.xy[i + 1] - self.xy[i]), dtype=np.float64)

    def heading_at(self, s: float) -> float:
        """Return the compass bearing of travel at arc length ``s`` (towards the last point)."""
        i, _ = self.locate(s)
        d = self.xy[i + 1] - self.xy[i]
        return compass_deg(float(d[0]), float(d[1]))

    def offset_vertices(self, offset_m: float) -> FloatArray:
        """Return the vertices of the parallel line ``offset_m`` to the left (mitred corners)."""
        seg = np.diff(self.xy, axis=0) / self.seg_len[:, None]
        normals = np.column_stack([-seg[:, 1], seg[:, 0]])
        before = np.vstack([normals[:1], normals])
        after = np.vstack([normals, normals[-1:]])
        bisector = before + after
        norm = np.hypot(bisector[:, 0], bisector[:, 1])
        straight_back = norm < 1e-9
        bisector[straight_back] = after[straight_back]
        norm[straight_back] = 1.0
        unit = bisector / norm[:, None]
        cos_half = np.clip(np.sum(unit * after, axis=1), 1.0 / 3.0, 1.0)
        return np.asarray(self.xy + unit * (offset_m / cos_half)[:, None], dtype=np.float64)

    def offset_point(self, s: float, vertices: FloatArray) -> FloatArray:
        """Return the point of an offset line (``offset_vertices``) at arc length ``s``, segment-wise."""
        i, f = self.locate(s)
        return np.asarray(vertices[i] + f * (vertices[i + 1] - vertices[i]), dtype=np.float64)

    def distance(self, points: FloatArray) -> FloatArray:
        """Return the distance in metres from each of an (n, 2) array of points to the path."""
        return polyline_distance(np.asarray(points, dtype=np.float64).reshape(-1, 2), self.xy)


def polyline_distance(points: FloatArray, vertices: FloatArray) -> FloatArray:
    """Return the distance from each point to a polyline (vectorised over points and segments)."""
    a, b = vertices[:-1], vertices[1:]
    ab = b - a
    ab_len2 = np.maximum(np.sum(ab * ab, axis=1), 1e-12)
    ap = points[:, None, :] - a[None, :, :]
    t = np.clip(np.sum(ap * ab[None, :, :], axis=2) / ab_len2[None, :], 0.0, 1.0)
    nearest = a[None, :, :] + t[:, :, None] * ab[None, :, :]
    d = np.hypot(*(points[:, None, :] - nearest).transpose(2, 0, 1))
    return np.asarray(d.min(axis=1), dtype=np.float64)


def arc_of(path: Path, point: FloatArray) -> float:
    """Return the arc length of the point of ``path`` nearest to ``point``."""
    a, b = path.xy[:-1], path.xy[1:]
    ab = b - a
    t = np.clip(np.sum((point - a) * ab, axis=1) / np.maximum(path.seg_len**2, 1e-12), 0.0, 1.0)
    d = np.hypot(*(a + t[:, None] * ab - point).T)
    i = int(np.argmin(d))
    return float(path.cum[i] + t[i] * path.seg_len[i])


def inside(ring: FloatArray, points: FloatArray) -> NDArray[np.bool_]:
    """Tell which of an (n, 2) array of points lie inside a polygon ring (even-odd rule)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x1, y1 = ring[:, 0], ring[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    px, py = pts[:, 0:1], pts[:, 1:2]
    crosses = (y1 > py) != (y2 > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
    return np.asarray(np.sum(crosses & (px < x_at), axis=1) % 2 == 1)


def depth(ring: FloatArray, points: FloatArray) -> FloatArray:
    """Return the signed distance of points to a polygon's edge: positive inside, negative outside."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    closed = np.vstack([ring, ring[:1]])
    d = polyline_distance(pts, closed)
    return np.where(inside(ring, pts), d, -d)
