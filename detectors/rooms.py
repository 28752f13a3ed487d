"""Room classes: what a device's room says about the air it watches.

A registry's room is free text (an installer's `kitchen`, `厨房`, `Küche-2`, `hallway`); the
policy knows a few classes, each with its own figures (policy.toml `[rooms.<class>]`): a kitchen
has a stove that warms the ceiling and makes smoke every day, a bathroom makes steam, a corridor
gets what drifts from both. Unknown names fall back to `other` (the defaults).
"""

from __future__ import annotations

import re

ROOM_CLASSES: tuple[str, ...] = (
    "other",
    "kitchen",
    "bedroom",
    "living_room",
    "corridor",
    "bathroom",
)
ROOM_CODE: dict[str, int] = {name: code for code, name in enumerate(ROOM_CLASSES)}
KITCHEN = ROOM_CODE["kitchen"]

# Words (lower case, English and Chinese) that name each class; a room matches a class when one
# of its words starts the name or follows a separator ("kitchen", "kitchen-2", "open_kitchen").
_WORDS: dict[str, tuple[str, ...]] = {
    "kitchen": ("kitchen", "kitchenette", "cooking", "厨房", "灶", "餐厨"),
    "bedroom": ("bedroom", "bed", "master", "卧室", "卧房", "睡房"),
    "living_room": ("living", "lounge", "sitting", "dining", "客厅", "起居", "餐厅"),
    "corridor": (
        "corridor",
        "hall",
        "hallway",
        "entrance",
        "entry",
        "stair",
        "走廊",
        "过道",
        "门厅",
        "玄关",
    ),
    "bathroom": ("bathroom", "bath", "shower", "toilet", "washroom", "卫生间", "浴室", "洗手间"),
}
_SPLIT = re.compile(r"[\s_\-./]+")


def room_class(room: str) -> str:
    """The class of a room name (`other` when none matches)."""
    name = room.strip().lower()
    if not name:
        return "other"
    tokens = [t for t in _SPLIT.split(name) if t]
    for klass, words in _WORDS.items():
        for word in words:
            if word.isascii():
                if any(t.rstrip("0123456789") == word for t in tokens):
                    return klass
            elif word in name:
                return klass
    return "other"
