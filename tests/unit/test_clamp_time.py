"""Client times used as store query parameters stay inside what DateTime64 can hold."""

from datetime import datetime, timezone

from aiops_core.store import MAX_TIME, MIN_TIME, clamp_time


def test_far_off_times_move_to_the_range_edges_and_naive_is_utc():
    """Year 637 becomes 1900-01-01, year 9999 becomes 2299-12-31; a naive time is read as UTC."""
    assert clamp_time(datetime(637, 4, 26, tzinfo=timezone.utc)) == MIN_TIME
    assert clamp_time(datetime(9999, 1, 1)) == MAX_TIME
    assert clamp_time(datetime(2026, 5, 1, 12, 0)) == datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
