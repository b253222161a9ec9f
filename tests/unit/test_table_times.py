"""Times as the projection tables store them: integer microseconds since the epoch, UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from service.projections.rows import from_micros, micros

FIRST = micros(datetime(1, 1, 1, tzinfo=UTC))
LAST = micros(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))


@given(st.integers(FIRST, LAST))
def test_a_stored_time_reads_back_as_the_same_utc_moment(value: int) -> None:
    moment = from_micros(value)
    assert moment.tzinfo is UTC
    assert micros(moment) == value
    # The moment ``datetime.fromtimestamp(seconds, UTC)`` with the fraction made before.
    seconds, fraction = divmod(value, 1_000_000)
    assert moment == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds) + timedelta(
        microseconds=fraction
    )


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.just(timezone(timedelta(hours=-5))),
    )
)
def test_any_aware_moment_is_stored_by_its_utc_instant(moment: datetime) -> None:
    assert from_micros(micros(moment)) == moment
