"""Feed marker keys: the reader takes only the exact shape the writer makes."""

from __future__ import annotations

import pytest

from sync.transport import feed_key, parse_feed_key

CLINIC = "4e091857-f686-4895-a492-e4fdf2a46d3c"
A = "08e9a2c2-5abe-412e-9a0a-2b2a8520aa57"
B = "9a1ce72c-c403-4482-9853-de3e716e77f6"


def test_a_marker_round_trips() -> None:
    assert parse_feed_key(feed_key(CLINIC, 1796586950123, A, 7)) == (1796586950123, A, 7)


@pytest.mark.parametrize(
    "key",
    [
        # device A nesting a key that ends like B's marker (IAM's `*` crosses `/`)
        f"v2/{CLINIC}/feed/1796586950123/{A}/1796586950124/{B}/000000000007.nmf",
        f"v2/{CLINIC}/feed/17965869501/{A}/000000000007.nmf",  # short time
        f"v2/{CLINIC}/feed/1796586950123/{A}/000000000007.nmb",  # not a marker
        f"v2/{CLINIC}/dev/{A}/000000000007.nmf",
    ],
)
def test_anything_else_is_not_a_marker(key: str) -> None:
    with pytest.raises(ValueError):
        parse_feed_key(key)
