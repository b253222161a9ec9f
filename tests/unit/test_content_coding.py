"""Which ``Accept-Encoding`` values admit gzip, and the gzip variant of a cached answer."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.answer_cache import CachedAnswer, entity_tag
from service.content_coding import GZIP_FROM, accepts_gzip, for_gzip, variant_key


@pytest.mark.parametrize(
    ("accept_encoding", "admitted"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("GZip", True),
        ("x-gzip", True),
        ("gzip, deflate", True),
        ("deflate, br", False),
        ("identity", False),
        ("gzip;q=0", False),
        ("gzip; q=0.0", False),
        ("gzip;q=0.001", True),
        ("gzip;q=not-a-number", False),
        ("gzip;q=2", False),
        ("*", True),
        ("*;q=0", False),
        ("br, *;q=0.5", True),
        ("gzip;q=0, *", False),
        ("*;q=0, gzip", True),
        ("gzip;q=0, x-gzip;q=0.5", True),
    ],
)
def test_accept_encoding_admits_gzip_as_rfc_9110_says(
    accept_encoding: str | None, admitted: bool
) -> None:
    lines = [] if accept_encoding is None else [accept_encoding]
    assert accepts_gzip(lines) is admitted


def test_accept_encoding_on_several_lines_is_one_list() -> None:
    assert accepts_gzip(["identity", "gzip"]) and accepts_gzip(["gzip", "identity"])
    assert not accepts_gzip(["*", "gzip;q=0"])


def answer(body: bytes) -> CachedAnswer:
    return CachedAnswer(body, entity_tag(body), 7, True)


@given(st.binary(min_size=GZIP_FROM, max_size=4 * GZIP_FROM))
def test_the_gzip_variant_decompresses_to_the_answer_with_an_etag_of_its_own(body: bytes) -> None:
    plain = answer(body)
    variant = for_gzip(plain)
    assert variant.encoding == "gzip" and plain.encoding is None
    assert gzip.decompress(variant.body) == body
    assert variant.etag == entity_tag(variant.body) != plain.etag
    assert (variant.position, variant.immutable) == (7, True)
    assert for_gzip(plain) == variant  # the same bytes each time: a strong ETag holds


@given(st.binary(max_size=GZIP_FROM - 1))
def test_a_short_answer_is_sent_as_it_is(body: bytes) -> None:
    plain = answer(body)
    assert for_gzip(plain) is plain


def test_the_variant_has_a_key_of_its_own() -> None:
    key = ("knowledge", "story", 1)
    assert variant_key(key, False) == key
    assert variant_key(key, True) != key
