from datetime import UTC, datetime, timedelta, timezone

import pytest

from ioc.kpis.buckets import Bucket, bucket_range, bucket_start

ICT = timedelta(hours=7)
LOCAL = timezone(ICT)


@pytest.mark.parametrize(("instant", "bucket", "start"), [
    (datetime(2026, 3, 26, 9, 15, 59, 999, tzinfo=LOCAL), Bucket.MINUTE,
     datetime(2026, 3, 26, 9, 15, tzinfo=LOCAL)),
    (datetime(2026, 3, 26, 9, 59, 59, tzinfo=LOCAL), Bucket.HOUR,
     datetime(2026, 3, 26, 9, 0, tzinfo=LOCAL)),
    # 23:30 UTC on the 25th is 06:30 on the 26th in Hai Duong: the local day is the 26th.
    (datetime(2026, 3, 25, 23, 30, tzinfo=UTC), Bucket.DAY, datetime(2026, 3, 26, tzinfo=LOCAL)),
    # 16:59 UTC is 23:59 local: still the same local day.
    (datetime(2026, 3, 26, 16, 59, tzinfo=UTC), Bucket.DAY, datetime(2026, 3, 26, tzinfo=LOCAL)),
    (datetime(2026, 3, 26, 17, 0, tzinfo=UTC), Bucket.DAY, datetime(2026, 3, 27, tzinfo=LOCAL)),
])
def test_bucket_start(instant: datetime, bucket: Bucket, start: datetime) -> None:
    assert bucket_start(instant, bucket, ICT) == start


def test_buckets_are_half_open() -> None:
    midnight = datetime(2026, 3, 27, tzinfo=LOCAL)
    assert bucket_start(midnight, Bucket.DAY, ICT) == midnight
    assert bucket_start(midnight - timedelta(microseconds=1), Bucket.DAY, ICT) == midnight - timedelta(days=1)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError):
        bucket_start(datetime(2026, 3, 26), Bucket.MINUTE, ICT)


def test_range_is_aligned_outward() -> None:
    first, last = bucket_range(datetime(2026, 3, 26, 9, 15, 30, tzinfo=LOCAL),
                               datetime(2026, 3, 26, 9, 17, 1, tzinfo=LOCAL), Bucket.MINUTE, ICT)
    assert (first, last) == (datetime(2026, 3, 26, 9, 15, tzinfo=LOCAL),
                             datetime(2026, 3, 26, 9, 18, tzinfo=LOCAL))
