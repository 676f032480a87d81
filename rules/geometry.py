"""Vectorised planar geometry for the hot path: a local metric frame and prepared route corridors.

Positions are projected into a local equirectangular frame around an origin (metres, spherical
Earth of WGS-84 mean radius). Within ~15 km of the origin distances agree with a UTM projection to
about 0.4 %, which is far below GPS noise at corridor scale (tens of metres). Route segments are
straight lines in this frame; for segments of a few kilometres or less that differs from the
geodesic by centimetres, so densify longer segments if a route ever has them. No antimeridian
handling: a city never straddles it.

Polygons (sites, zones, disposal grounds, grid cells) are tested by even-odd ray casting in the
same frame. The frame is affine in lon/lat, so containment there equals planar containment in
degrees (what shapely computes on lon/lat rings); points exactly on an edge may go either way.
``PolygonIndex`` buckets polygons by their bounding boxes on a uniform grid of cells, so a batch
of points is tested only against the few polygons whose cells it falls in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

EARTH_RADIUS_M = 6_371_008.8  # WGS-84 mean radius (IUGG R1)
_MAX_CELLS = 1 << 20  # points x segments evaluated at once; bounds the temporary arrays

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]
Ring = Sequence[tuple[float, float]] | FloatArray  # (lon, lat) vertices
Shape = Ring | Sequence[Ring] | Sequence[Sequence[Ring]]  # a ring, [exterior, *holes] or parts of those


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

    def _nearest_block(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, IntArray, FloatArray]:
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


def haversine_m(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> FloatArray:
    """Return great-circle distances in metres between points (degrees; arrays broadcast)."""
    l1, p1, l2, p2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in (lon1, lat1, lon2, lat2))
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))), dtype=np.float64)


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return the great-circle distance in metres between two (lon, lat) points (``haversine_m`` for one
    pair, in plain floats: numpy costs more than the sum for a single point)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(max(h, 0.0), 1.0)))


def point_in_shape(lon: float, lat: float, shape: Shape) -> bool:
    """Tell whether one point lies inside a shape (even-odd over all its rings, lon / lat as planar x / y).

    For a few cells looked up once (a case's grid cell, a device's district); the hot path prepares
    its polygons once (``PreparedPolygon``) and tests whole batches in metres.
    """
    edges = np.vstack([_ring_edges(np.asarray(ring, dtype=np.float64)) for ring in shape_rings(shape)])
    return bool(_ray_cast(np.array([lon], dtype=np.float64), np.array([lat], dtype=np.float64), edges)[0])


def shape_rings(shape: Shape) -> list[Ring]:
    """Return the rings of a ring, of a polygon's [exterior, *holes] or of a multipolygon's parts."""
    depth, first = 0, cast(Any, shape)
    while not isinstance(first, float | int | np.number):
        if len(first) == 0:
            raise ValueError("a polygon ring needs three or more distinct (lon, lat) points, got none")
        first, depth = first[0], depth + 1
    if depth == 2:  # one ring of (lon, lat) points
        return [cast(Ring, shape)]
    if depth == 3:
        return list(cast(Sequence[Ring], shape))
    return [ring for part in cast(Sequence[Sequence[Ring]], shape) for ring in part]


def _ring_edges(xy: FloatArray) -> FloatArray:
    """Return the (n, 4) edges x0, y0, x1, y1 of a ring, closing it if its last point is not its first."""
    if not np.array_equal(xy[0], xy[-1]):
        xy = np.vstack([xy, xy[:1]])
    return np.hstack([xy[:-1], xy[1:]])


def within_m(lon: ArrayLike, lat: ArrayLike, centre: tuple[float, float], radius_m: float) -> BoolArray:
    """Tell which points lie within ``radius_m`` metres (great circle) of a (lon, lat) centre."""
    return np.asarray(haversine_m(lon, lat, centre[0], centre[1]) <= radius_m)


@dataclass(frozen=True, slots=True, eq=False)
class PreparedPolygon:
    """A polygon's rings (holes and parts too) projected once, for vectorised even-odd point-in-polygon tests."""

    frame: LocalFrame
    edges: FloatArray  # (n, 4) x0, y0, x1, y1 of each edge of the closed ring
    bbox: FloatArray  # (4,) xmin, ymin, xmax, ymax

    @classmethod
    def from_ring(cls, ring: Ring, frame: LocalFrame | None = None) -> PreparedPolygon:
        """Prepare a ring of (lon, lat) vertices (closing point optional) in a frame."""
        return cls.from_shape(ring, frame)

    @classmethod
    def from_shape(cls, shape: Shape, frame: LocalFrame | None = None) -> PreparedPolygon:
        """Prepare a ring, a polygon with holes or a multipolygon in a frame (even-odd over all its rings)."""
        lonlats = [_checked_ring(ring) for ring in shape_rings(shape)]
        frame = frame or _centre_frame(np.vstack(lonlats))
        edges = np.vstack([_ring_edges(np.column_stack(frame.to_xy(ll[:, 0], ll[:, 1]))) for ll in lonlats])
        x, y = edges[:, 0], edges[:, 1]
        bbox = np.array([x.min(), y.min(), x.max(), y.max()])
        return cls(frame, _frozen(edges), _frozen(bbox))

    def contains(self, lon: ArrayLike, lat: ArrayLike) -> BoolArray:
        """Tell which points (any broadcastable shapes) lie inside the polygon."""
        x, y = np.broadcast_arrays(*self.frame.to_xy(lon, lat))
        return self.contains_xy(x.ravel(), y.ravel()).reshape(x.shape)

    def contains_xy(self, x: FloatArray, y: FloatArray) -> BoolArray:
        """Tell which points, as 1-d arrays of frame metres, lie inside (blocks of bounded size)."""
        xmin, ymin, xmax, ymax = self.bbox
        candidates = np.flatnonzero((x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax))
        out = np.zeros(x.shape, dtype=bool)
        step = max(1, _MAX_CELLS // len(self.edges))
        for i in range(0, candidates.size, step):
            block = candidates[i : i + step]
            out[block] = _ray_cast(x[block], y[block], self.edges)
        return out


def _ray_cast(x: FloatArray, y: FloatArray, edges: FloatArray) -> BoolArray:
    """Count, per point, the edges a ray towards +x crosses; odd means inside."""
    x0, y0, x1, y1 = edges.T
    py = y[:, None]
    straddles = (y0 > py) != (y1 > py)
    t = np.divide(py - y0, y1 - y0, out=np.zeros(straddles.shape), where=straddles)
    crossing = straddles & (x[:, None] < x0 + t * (x1 - x0))
    return np.asarray(np.count_nonzero(crossing, axis=1) % 2 == 1)


def _checked_ring(ring: Ring) -> FloatArray:
    """Return a ring as an (n, 2) array, refusing one that cannot bound an area."""
    lonlat = np.asarray(ring, dtype=np.float64)
    if lonlat.ndim != 2 or lonlat.shape[1] != 2 or len(np.unique(lonlat, axis=0)) < 3:
        raise ValueError(f"a polygon ring needs three or more distinct (lon, lat) points, got {lonlat.shape}")
    if not np.isfinite(lonlat).all():
        raise ValueError("polygon ring coordinates must be finite")
    return lonlat


@dataclass(frozen=True, slots=True, eq=False)
class PolygonIndex:
    """Polygons bucketed on a uniform grid of their bounding boxes: which contain each point."""

    ids: tuple[str, ...]
    polygons: tuple[PreparedPolygon, ...]
    frame: LocalFrame
    cell_m: float
    origin_xy: tuple[float, float]  # frame metres of the grid's lower-left corner
    shape: tuple[int, int]  # cells along x and y
    cell_keys: IntArray  # sorted cell key (ix * ny + iy) of each (cell, polygon) pair
    cell_polygons: IntArray  # polygon index of each pair

    @classmethod
    def build(
        cls,
        items: Sequence[tuple[str, Shape]],
        *,
        frame: LocalFrame | None = None,
        cell_m: float | None = None,
    ) -> PolygonIndex:
        """Index (id, shape) pairs; frame defaults to their centre, cell to a typical size."""
        if not items:
            empty = _frozen_int(np.zeros(0, dtype=np.intp))
            return cls((), (), frame or LocalFrame(0.0, 0.0), 1.0, (0.0, 0.0), (0, 0), empty, empty)
        frame = frame or _centre_frame(np.vstack([_checked_ring(r) for _, shape in items for r in shape_rings(shape)]))
        polygons = tuple(PreparedPolygon.from_shape(shape, frame) for _, shape in items)
        boxes = np.array([p.bbox for p in polygons])
        cell = float(cell_m) if cell_m else _auto_cell(boxes)
        low = (float(boxes[:, 0].min()), float(boxes[:, 1].min()))
        lo_cells, hi_cells = _cell_of(boxes[:, :2], low, cell), _cell_of(boxes[:, 2:], low, cell)
        shape = (int(hi_cells[:, 0].max()) + 1, int(hi_cells[:, 1].max()) + 1)
        keys, owners = _cover(lo_cells, hi_cells, shape[1])
        ids = tuple(i for i, _ in items)
        return cls(ids, polygons, frame, cell, low, shape, keys, owners)

    def query(self, lon: ArrayLike, lat: ArrayLike) -> tuple[IntArray, IntArray]:
        """Return (point index, polygon index) of every containment, points flattened, sorted."""
        x, y = (a.ravel() for a in np.broadcast_arrays(*self.frame.to_xy(lon, lat)))
        point, poly = self._candidates(x, y)
        keep = np.zeros(point.shape, dtype=bool)
        for p in np.unique(poly):
            mine = np.flatnonzero(poly == p)
            keep[mine] = self.polygons[p].contains_xy(x[point[mine]], y[point[mine]])
        point, poly = point[keep], poly[keep]
        order = np.lexsort((poly, point))
        return point[order], poly[order]

    def containing(self, lon: ArrayLike, lat: ArrayLike) -> list[list[str]]:
        """Return, for each point (flattened), the ids of the polygons that contain it."""
        return ids_per_point(lon, lat, self.query(lon, lat), self.ids)

    def ids_at(self, lon: float, lat: float) -> list[str]:
        """Return the ids of the polygons containing one point."""
        return self.containing(lon, lat)[0]

    def _candidates(self, x: FloatArray, y: FloatArray) -> tuple[IntArray, IntArray]:
        """Return (point, polygon) pairs sharing a grid cell: the only pairs worth testing."""
        cells = _cell_of(np.column_stack([x, y]), self.origin_xy, self.cell_m)
        return cell_pairs(cells, self.shape, self.cell_keys, self.cell_polygons)


def ids_per_point(
    lon: ArrayLike, lat: ArrayLike, pairs: tuple[IntArray, IntArray], ids: Sequence[str]
) -> list[list[str]]:
    """Turn (point, feature) index pairs of a query into each point's feature ids (points flattened)."""
    n = np.broadcast_shapes(np.shape(lon), np.shape(lat))
    out: list[list[str]] = [[] for _ in range(int(np.prod(n)))]
    for point, feature in zip(*pairs, strict=True):
        out[point].append(ids[feature])
    return out


def cell_pairs(
    cells: IntArray, shape: tuple[int, int], cell_keys: IntArray, owners: IntArray
) -> tuple[IntArray, IntArray]:
    """Return (point, owner) for every owner bucketed in the grid cell of each point."""
    nx, ny = shape
    points = np.flatnonzero((cells >= 0).all(axis=1) & (cells[:, 0] < nx) & (cells[:, 1] < ny))
    keys = cells[points, 0] * ny + cells[points, 1]
    lo = np.searchsorted(cell_keys, keys, side="left")
    counts = np.searchsorted(cell_keys, keys, side="right") - lo
    firsts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
    pairs = firsts + np.arange(int(counts.sum()))
    return np.repeat(points, counts), owners[pairs]


def _cell_of(xy: FloatArray, origin: tuple[float, float], cell_m: float) -> IntArray:
    """Return the (ix, iy) grid cell of each point; far-away or non-finite points get -1."""
    scaled = (xy - np.asarray(origin)) / cell_m
    ok = np.isfinite(scaled).all(axis=1) & (np.abs(scaled) < 2**52).all(axis=1)
    cells = np.full(xy.shape, -1, dtype=np.intp)
    cells[ok] = np.floor(scaled[ok]).astype(np.intp)
    return cells


def _cover(lo: IntArray, hi: IntArray, ny: int) -> tuple[IntArray, IntArray]:
    """Return the cell keys the polygons' boxes cover, sorted, with the owner of each (read-only)."""
    width = hi[:, 1] - lo[:, 1] + 1
    counts = (hi[:, 0] - lo[:, 0] + 1) * width
    owners = np.repeat(np.arange(len(lo)), counts)
    local = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    ix = lo[owners, 0] + local // width[owners]
    iy = lo[owners, 1] + local % width[owners]
    keys = ix * ny + iy
    order = np.argsort(keys, kind="stable")
    return _frozen_int(keys[order]), _frozen_int(owners[order])


def _auto_cell(boxes: FloatArray) -> float:
    """Pick a cell about the size of a typical polygon, grown until the index stays small."""
    extent = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    cell = max(float(np.median(extent)), 1.0)
    budget = 16 * len(boxes) + 4096  # (cell, polygon) pairs
    span = boxes[:, 2:] - boxes[:, :2]
    while np.prod(np.floor(span / cell) + 2, axis=1).sum() > budget:
        cell *= 2
    return cell


def _frozen_int(a: IntArray) -> IntArray:
    """Return a read-only contiguous copy of an index array."""
    out = np.ascontiguousarray(a, dtype=np.intp).copy()
    out.flags.writeable = False
    return out
