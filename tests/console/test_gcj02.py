"""WGS-84 → GCJ-02 in the console's map (console/web/js/gcj02.js), run by Node against published
reference points: eviltransform's test vectors (Shanghai, Shenzhen, Beijing) and
coordtransform's README example (Beijing). A marker converted with it lands within 5 m of where
the reference says a GCJ-02 map draws the place; unconverted it lands hundreds of metres off."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

GCJ02_JS = Path(__file__).resolve().parents[2] / "console" / "web" / "js" / "gcj02.js"

# (WGS-84 lat, lon) -> (GCJ-02 lat, lon), as published.
REFERENCE = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),  # Shanghai
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),  # Shenzhen
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),  # Beijing
    ((39.915, 116.404), (39.91640428150164, 116.41024449916938)),  # Beijing (coordtransform)
]
OUTSIDE = [
    ((39.7392, -104.9903), (39.7392, -104.9903)),
    ((-27.4698, 153.0251), (-27.4698, 153.0251)),
]


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def convert(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("no Node.js to run the console's module")
    script = (
        f"import {{ wgs84ToGcj02 }} from {json.dumps(GCJ02_JS.as_uri())};"
        f"console.log(JSON.stringify({json.dumps(points)}.map(([a, b]) => wgs84ToGcj02(a, b))));"
    )
    out = subprocess.run(
        [node, "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return [tuple(p) for p in json.loads(out.stdout)]


def test_reference_points_land_within_5_m() -> None:
    got = convert([wgs for wgs, _ in REFERENCE])
    for (wgs, gcj), mine in zip(REFERENCE, got, strict=True):
        assert metres(mine, gcj) < 5.0, (wgs, gcj, mine)
        assert metres(wgs, gcj) > 100.0, "the reference itself must show the offset"


def test_nothing_moves_outside_china() -> None:
    got = convert([wgs for wgs, _ in OUTSIDE])
    for (_, expected), mine in zip(OUTSIDE, got, strict=True):
        assert mine == pytest.approx(expected)
