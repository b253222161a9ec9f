"""The answer cache evicts the least recently used answers past its byte bound."""

from __future__ import annotations

from service.answer_cache import ENTRY_OVERHEAD, AnswerCache, CachedAnswer, entity_tag


def answer(size: int, fill: bytes = b"x") -> CachedAnswer:
    body = fill * size
    return CachedAnswer(body, entity_tag(body), 1, True)


def test_the_least_recently_used_answer_goes_first() -> None:
    cache = AnswerCache(3 * (100 + ENTRY_OVERHEAD))
    for key in "abc":
        cache.put(key, answer(100))
    assert cache.get("a") is not None
    cache.put("d", answer(100))
    assert [k for k in "abcd" if cache.get(k) is not None] == ["a", "c", "d"]
    assert cache.held_bytes == 3 * (100 + ENTRY_OVERHEAD)


def test_an_answer_larger_than_the_bound_is_not_kept_and_a_zero_bound_keeps_nothing() -> None:
    cache = AnswerCache(1000)
    cache.put("big", answer(1000))
    assert cache.get("big") is None
    none = AnswerCache(0)
    none.put("a", answer(1))
    assert len(none) == 0 and none.held_bytes == 0


def test_replacing_an_answer_counts_its_bytes_once() -> None:
    cache = AnswerCache(10_000)
    cache.put("a", answer(100))
    cache.put("a", answer(300, b"y"))
    assert len(cache) == 1
    assert cache.held_bytes == 300 + ENTRY_OVERHEAD
    assert cache.get("a") == answer(300, b"y")


def test_the_etag_is_a_quoted_digest_of_the_bytes() -> None:
    assert entity_tag(b"a") == entity_tag(b"a") != entity_tag(b"b")
    assert entity_tag(b"a").startswith('"') and entity_tag(b"a").endswith('"')
