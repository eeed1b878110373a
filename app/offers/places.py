"""Where things are: the Thames Valley's prisons and local authorities (pure data, no I/O).

The reference facts of ``shared/data/thames_valley.json``: each prison's three-letter HMPPS
establishment code with the approximate coordinates of its gate, and each local
authority's ONS code, name, main town and town-centre coordinates. Matching measures travel
from a prison gate and nearness to the town a leaver is released to with these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True, slots=True)
class Place:
    code: str
    name: str
    latitude: float
    longitude: float


PRISONS: dict[str, Place] = {
    p.code: p
    for p in (
        Place("BLI", "HMP Bullingdon", 51.853, -1.102),
        Place("BZI", "HMP/YOI Bronzefield", 51.434, -0.488),
        Place("HCI", "HMP Huntercombe", 51.59, -1.036),
        Place("GNI", "HMP Grendon", 51.889, -1.01),
        Place("SPI", "HMP Springhill", 51.891, -1.007),
        Place("AYI", "HMYOI Aylesbury", 51.822, -0.797),
        Place("WDI", "HMP Woodhill", 51.993, -0.797),
    )
}
ESTABLISHMENT_CODES: tuple[str, ...] = tuple(PRISONS)

# Local authorities by ONS code: the name is the authority's, the point its main town's.
LOCAL_AUTHORITIES: dict[str, Place] = {
    p.code: p
    for p in (
        Place("E06000036", "Bracknell Forest", 51.416, -0.754),
        Place("E06000037", "West Berkshire", 51.4014, -1.3231),
        Place("E06000038", "Reading", 51.4543, -0.9781),
        Place("E06000039", "Slough", 51.5105, -0.595),
        Place("E06000040", "Windsor and Maidenhead", 51.5218, -0.7177),
        Place("E06000041", "Wokingham", 51.4112, -0.8339),
        Place("E06000042", "Milton Keynes", 52.0406, -0.7594),
        Place("E06000060", "Buckinghamshire", 51.8156, -0.8084),
        Place("E07000177", "Cherwell", 52.0629, -1.3398),
        Place("E07000178", "Oxford", 51.752, -1.2577),
        Place("E07000179", "South Oxfordshire", 51.608, -1.241),
        Place("E07000180", "Vale of White Horse", 51.6708, -1.283),
        Place("E07000181", "West Oxfordshire", 51.784, -1.485),
    )
}


def area_name(code: str) -> str:
    """The local authority's name, or its code when it is not one we know."""
    known = LOCAL_AUTHORITIES.get(code)
    return known.name if known else code


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (straight-line) distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
