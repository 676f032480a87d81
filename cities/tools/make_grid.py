"""Write ``cities/demo/grid.geojson``: the demo district's 万米单元网格, one cell per street block.

Simplification (documented in ``cities/README.md``): a real 万米 cell is ~100 x 100 m; the demo
district (~6 x 5 km) would need thousands of them, so each cell here is one 450 m block of the
demo's street grid. Cells are centred on the street intersections, so no street runs along a cell
edge and a truck's noisy fix on a street falls clearly inside one cell (only mid-block points sit
on an edge).

Codes are 15 digits: district (6) + street office (3) + community (3) + serial (3). Columns
x <= 0 belong to the west district 420106, columns x >= 1 to the east district 420111; each
district has four street offices (two column bands x north / south), each street office three
communities (bands of two rows), and cells are numbered row by row inside their community.

Run from the repository root: ``python cities/tools/make_grid.py [output]``. The output is
deterministic (same bytes on every run).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

CENTER = (114.30, 30.59)
BLOCK_M = 450.0
EARTH_RADIUS_M = 6_371_008.8  # the spherical frame the demo data was drawn in
COLUMNS = range(-6, 7)  # block x, west to east
ROWS = range(-5, 6)  # block y, south to north
DISTRICTS = {"west": "420106", "east": "420111"}
STREETS = {  # (district, column band, row band) -> (code, name)
    ("west", "outer", "north"): ("001", "江滨街道"),
    ("west", "inner", "north"): ("002", "和平街道"),
    ("west", "outer", "south"): ("003", "新河街道"),
    ("west", "inner", "south"): ("004", "南湖街道"),
    ("east", "inner", "north"): ("001", "青山街道"),
    ("east", "outer", "north"): ("002", "东湖街道"),
    ("east", "inner", "south"): ("003", "桥东街道"),
    ("east", "outer", "south"): ("004", "关山街道"),
}
COMMUNITY_ROWS: dict[str, list[tuple[int, ...]]] = {
    "north": [(0, 1), (2, 3), (4, 5)],
    "south": [(-1, -2), (-3, -4), (-5,)],
}
NUMERALS = "一二三"


def block_lonlat(x: float, y: float, dx_m: float = 0.0, dy_m: float = 0.0) -> tuple[float, float]:
    """Return lon/lat of block coordinates (x east, y north, in blocks) plus a metre offset."""
    lon0, lat0 = CENTER
    per_deg_lat = EARTH_RADIUS_M * math.pi / 180.0
    per_deg_lon = per_deg_lat * math.cos(math.radians(lat0))
    return (round(lon0 + (x * BLOCK_M + dx_m) / per_deg_lon, 6), round(lat0 + (y * BLOCK_M + dy_m) / per_deg_lat, 6))


def _street(x: int, y: int) -> tuple[str, str, str]:
    """Return (district code, street code, street name) of the cell at block (x, y)."""
    district = "west" if x <= 0 else "east"
    outer = x <= -4 if district == "west" else x >= 4
    row_band = "north" if y >= 0 else "south"
    code, name = STREETS[(district, "outer" if outer else "inner", row_band)]
    return DISTRICTS[district], code, name


def _community(y: int) -> int:
    """Return the community index (0-2) of a row inside its street office."""
    bands = COMMUNITY_ROWS["north" if y >= 0 else "south"]
    return next(i for i, rows in enumerate(bands) if y in rows)


def _ring(x: int, y: int) -> list[list[float]]:
    """Return the closed, counter-clockwise ring of the cell centred on intersection (x, y)."""
    corners = [(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5), (-0.5, -0.5)]
    return [list(block_lonlat(x + cx, y + cy)) for cx, cy in corners]


def grid_features() -> list[dict[str, Any]]:
    """Return the grid cells as GeoJSON features, numbered row by row within each community."""
    serials: dict[str, int] = {}
    features = []
    for y in reversed(ROWS):
        for x in COLUMNS:
            district, street, street_name = _street(x, y)
            k = _community(y)
            prefix = f"{district}{street}{k + 1:03d}"
            serials[prefix] = serials.get(prefix, 0) + 1
            community = f"{street_name[:2]}{NUMERALS[k]}社区"
            props = {
                "code": f"{prefix}{serials[prefix]:03d}",
                "name": f"{community}第{serials[prefix]}网格",
                "unit": f"{street_name}城管中队",
            }
            features.append(
                {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [_ring(x, y)]}}
            )
    return features


def render() -> str:
    """Return the GeoJSON text: one feature per line, so diffs stay readable."""
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in grid_features()]
    return '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"


def main(argv: list[str]) -> None:
    """Write the grid to the given path (default: cities/demo/grid.geojson next to this script)."""
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "demo" / "grid.geojson"
    out.write_text(render(), encoding="utf-8")
    print(f"{out}: {len(grid_features())} cells")


if __name__ == "__main__":
    main(sys.argv)
