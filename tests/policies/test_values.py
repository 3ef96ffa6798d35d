"""Reading inputs inside rules: missing, null, booleans that are not numbers, pending references."""

from __future__ import annotations

import pytest
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from infra.offline import UNKNOWN
from policies.values import MISSING, PENDING, expect, pinned_image, reference, shown, value_at


def test_a_missing_or_null_input_is_missing() -> None:
    props = unknown_checking_proxy({"a": {"b": None}})
    assert value_at(props, "a.b") is MISSING
    assert value_at(props, "a.c.d") is MISSING
    assert list(expect(props, "a.b", [True], "true")) == ["a.b is not set; expected true"]


def test_true_is_not_one() -> None:
    assert list(expect({"limit": True}, "limit", [1], "1")) == ["limit is true; expected 1"]
    assert list(expect({"on": 1}, "on", [True], "true")) == ["on is 1; expected true"]
    assert list(expect({"limit": 1.0}, "limit", [1], "1")) == []


def test_reading_an_unknown_value_raises() -> None:
    props = unknown_checking_proxy({"properties": {"enablePurgeProtection": UNKNOWN}})
    with pytest.raises(UnknownValueError) as raised:
        list(expect(props, "properties.enablePurgeProtection", [True], "true"))
    assert (
        raised.value.message
        == "string value at .properties.enablePurgeProtection can't be known during preview"
    )


def test_a_reference_to_a_resource_not_created_yet_is_pending() -> None:
    props = unknown_checking_proxy({"monitor": UNKNOWN, "fallbackPool": "abc"})
    assert reference(props, "monitor") is PENDING
    assert reference(props, "fallbackPool") == "abc"
    assert reference(props, "pool") is MISSING


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("ghcr.io/example/api:1.0.0", True),
        ("ghcr.io/example/api@sha256:" + "0" * 64, True),
        ("registry:5000/api:2.1", True),
        ("ghcr.io/example/api:latest", False),
        ("ghcr.io/example/api", False),
        ("registry:5000/api", False),
    ],
)
def test_pinned_images(image: str, pinned: bool) -> None:
    assert pinned_image(image) is pinned


def test_messages_show_scalars_and_describe_the_rest() -> None:
    assert [shown(v) for v in ("1.0", 2.0, False, None, {"a": 1}, [1])] == [
        '"1.0"',
        "2",
        "false",
        "null",
        "an object",
        "a list",
    ]
