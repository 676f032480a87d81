"""Conversions between the geodetic datums Chinese map data comes in, to and from WGS-84.

- ``WGS-84``: what terminals report (GPS receivers, JT/T 808 position reports).
- ``CGCS2000``: the national GIS datum, treated as identical to WGS-84 here. Its ellipsoid (GRS80)
  differs from WGS-84's by under 0.1 mm in latitude and the frames agree to centimetres at CGCS2000's
  epoch (2000.0); CGCS2000 coordinates stay at that epoch while WGS-84 follows the plate, which by now
  parts them by up to about a metre (a few cm a year). That is within a terminal's GPS noise (metres) and
  far below the GCJ-02 offset; survey-grade work would need a real frame transformation.
- ``GCJ-02``: the obfuscated datum of maps published in China (AMap/Gaode, Tencent, Google China).
  WGS-84 -> GCJ-02 is the widely published algorithm (Krasovsky ellipsoid, the ``transformLat`` /
  ``transformLon`` polynomials); offsets are about 100-700 m. GCJ-02 -> WGS-84 inverts it exactly by
  fixed-point iteration (to 1e-10 degrees, about 0.01 mm), not by the one-step approximation, which is
  off by up to 5 m.
- ``BD-09``: Baidu's datum, GCJ-02 plus the published ``x_pi = pi * 3000 / 180`` transform. BD-09 ->
  GCJ-02 starts from the published approximate inverse (off by decimetres) and iterates to the exact
  inverse of the forward transform.

Only points inside the usual coarse mainland-China box (lon 72.004-137.8347, lat 0.8293-55.8271, tested
on the WGS-84 position) are shifted; the maps use WGS-84 outside China, so everything else passes through
unchanged. The box is coarse: it covers parts of neighbouring countries and the sea, and within an
offset's width (< 1 km) of its edges the shift is discontinuous and the inverse ambiguous.

The box also covers Taiwan, which Tencent's maps serve in WGS-84.

Accuracy (pairs and sources in ``tests/devices/test_datum.py``): AMap's documented WGS-84 -> GCJ-02
example is reproduced to 5 cm, Alibaba Cloud's documented GCJ-02 -> BD-09 example to 5 cm, and a live
Baidu WGS-84 -> BD-09 answer to 0.7 m (Baidu's server is not exactly the published formula). Non-finite
input gives non-finite output; nothing here raises on it, and nothing warns.
"""

from __future__ import annotations

import math
from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

Datum = Literal["WGS-84", "CGCS2000", "GCJ-02", "BD-09"]
DATUMS: tuple[Datum, ...] = ("WGS-84", "CGCS2000", "GCJ-02", "BD-09")

# Spellings parse_datum accepts, compared after lower-casing and dropping spaces, '-' and '_'.
_ALIASES: Final[dict[Datum, tuple[str, ...]]] = {
    "WGS-84": ("wgs84", "wgs1984", "epsg:4326", "gps"),
    "CGCS2000": ("cgcs2000", "epsg:4490", "国家2000", "2000国家大地坐标系"),
    "GCJ-02": ("gcj02", "gcj", "火星坐标", "火星坐标系", "国测局", "国测局坐标", "amap", "gaode", "高德", "autonavi"),
    "BD-09": ("bd09", "bd09ll", "baidu", "百度", "百度坐标"),
}
_LOOKUP: Final[dict[str, Datum]] = {alias: datum for datum, names in _ALIASES.items() for alias in names}

_KRASOVSKY_A: Final = 6378245.0
_KRASOVSKY_EE: Final = 0.00669342162296594323
_X_PI: Final = math.pi * 3000.0 / 180.0
_CHINA_BOX: Final = (72.004, 137.8347, 0.8293, 55.8271)  # west, east, south, north
_ORIGIN: Final = (105.0, 35.0)  # the GCJ-02 polynomials' origin, also a harmless stand-in value
_TOL_DEG: Final = 1e-10
_MAX_ITER: Final = 20


def _key(name: str) -> str:
    return "".join(name.split()).lower().replace("-", "").replace("_", "")


def parse_datum(name: str) -> Datum:
    """Return the canonical datum for a common spelling, or raise ValueError naming the accepted ones."""
    datum = _LOOKUP.get(_key(name))
    if datum is None:
        accepted = "; ".join(f"{d} ({', '.join(names)})" for d, names in _ALIASES.items())
        raise ValueError(f"unknown datum {name!r}; accepted (case, spaces, '-' and '_' ignored): {accepted}")
    return datum


def _pair(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return x.copy(), y.copy()


def _in_china(lon: FloatArray, lat: FloatArray) -> BoolArray:
    west, east, south, north = _CHINA_BOX
    return (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)


def _poly_lat(x: FloatArray, y: FloatArray) -> FloatArray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _poly_lon(x: FloatArray, y: FloatArray) -> FloatArray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj_shift(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return the GCJ-02 offset (degrees) of WGS-84 positions; zero outside China and for non-finite input."""
    inside = _in_china(lon, lat)
    x, y = np.where(inside, lon, _ORIGIN[0]), np.where(inside, lat, _ORIGIN[1])
    rad = np.radians(y)
    magic = 1.0 - _KRASOVSKY_EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    meridian = _KRASOVSKY_A * (1.0 - _KRASOVSKY_EE) / (magic * sqrt_magic) * np.pi
    parallel = _KRASOVSKY_A / sqrt_magic * np.cos(rad) * np.pi
    dlat = _poly_lat(x - _ORIGIN[0], y - _ORIGIN[1]) * 180.0 / meridian
    dlon = _poly_lon(x - _ORIGIN[0], y - _ORIGIN[1]) * 180.0 / parallel
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def _wgs_to_gcj(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    dlon, dlat = _gcj_shift(lon, lat)
    return lon + dlon, lat + dlat


def _gcj_to_wgs(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Solve w + shift(w) = g for w by fixed-point iteration (the shift varies slowly, so it converges fast).

    Each point stops once its own step is below the tolerance, so its result does not depend on its batch.
    """
    dlon, dlat = _gcj_shift(lon, lat)
    active = np.ones(lon.shape, dtype=np.bool_)
    for _ in range(_MAX_ITER):
        next_lon, next_lat = _gcj_shift(lon - dlon, lat - dlat)
        step = np.maximum(np.abs(next_lon - dlon), np.abs(next_lat - dlat))
        dlon, dlat = np.where(active, next_lon, dlon), np.where(active, next_lat, dlat)
        active &= step > _TOL_DEG
        if not active.any():
            break
    return lon - dlon, lat - dlat


def _gcj_to_bd(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Start from the published approximate inverse, then iterate to the exact inverse of _gcj_to_bd."""
    x, y = lon - 0.0065, lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    glon, glat = z * np.cos(theta), z * np.sin(theta)
    active = np.ones(lon.shape, dtype=np.bool_)
    for _ in range(_MAX_ITER):
        blon, blat = _gcj_to_bd(glon, glat)
        glon, glat = np.where(active, glon - (blon - lon), glon), np.where(active, glat - (blat - lat), glat)
        active &= np.maximum(np.abs(blon - lon), np.abs(blat - lat)) > _TOL_DEG
        if not active.any():
            break
    return glon, glat


def _wgs_to_bd(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    inside = _in_china(lon, lat)
    glon, glat = _wgs_to_gcj(np.where(inside, lon, _ORIGIN[0]), np.where(inside, lat, _ORIGIN[1]))
    blon, blat = _gcj_to_bd(glon, glat)
    return np.where(inside, blon, lon), np.where(inside, blat, lat)


def _bd_to_wgs(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    finite = np.isfinite(lon) & np.isfinite(lat)
    glon, glat = _bd_to_gcj(np.where(finite, lon, _ORIGIN[0]), np.where(finite, lat, _ORIGIN[1]))
    wlon, wlat = _gcj_to_wgs(glon, glat)
    keep = finite & _in_china(wlon, wlat)
    return np.where(keep, wlon, lon), np.where(keep, wlat, lat)


_TO_WGS: Final = {"GCJ-02": _gcj_to_wgs, "BD-09": _bd_to_wgs}  # WGS-84 and CGCS2000: unchanged
_FROM_WGS: Final = {"GCJ-02": _wgs_to_gcj, "BD-09": _wgs_to_bd}


def to_wgs84(lon: ArrayLike, lat: ArrayLike, datum: Datum | str) -> tuple[FloatArray, FloatArray]:
    """Convert positions (degrees, any broadcastable shapes) in ``datum`` to WGS-84 float64 arrays."""
    shift = _TO_WGS.get(parse_datum(datum))
    return shift(*_pair(lon, lat)) if shift else _pair(lon, lat)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, datum: Datum | str) -> tuple[FloatArray, FloatArray]:
    """Convert WGS-84 positions (degrees, any broadcastable shapes) to ``datum`` as float64 arrays."""
    shift = _FROM_WGS.get(parse_datum(datum))
    return shift(*_pair(lon, lat)) if shift else _pair(lon, lat)


def convert(lon: ArrayLike, lat: ArrayLike, source: Datum | str, target: Datum | str) -> tuple[FloatArray, FloatArray]:
    """Convert positions from ``source`` to ``target`` (through WGS-84) as float64 arrays."""
    x, y = to_wgs84(lon, lat, source)
    return from_wgs84(x, y, target)


def convert_point(lon: float, lat: float, datum: Datum | str, target: Datum | str = "WGS-84") -> tuple[float, float]:
    """Convert one position from ``datum`` to ``target`` (WGS-84 unless given) as plain floats."""
    x, y = convert(lon, lat, datum, target)
    return float(x), float(y)
