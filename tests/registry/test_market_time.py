"""A TimeStamp without an offset is read in the market time zone (cro-rules)."""

import datetime as dt
from zoneinfo import ZoneInfo

from registry.services.market_time import time_stamp_aware


def test_an_offset_less_time_stamp_is_read_in_the_market_zone(settings):
    settings.CRO_TIME_ZONE = "Europe/Amsterdam"
    aware = time_stamp_aware(dt.datetime(2024, 7, 1, 12, 0))
    assert aware.utcoffset() == dt.timedelta(hours=2)  # CEST
    assert aware.tzinfo == ZoneInfo("Europe/Amsterdam")


def test_a_time_stamp_with_an_offset_is_kept_and_none_stays_none(settings):
    settings.CRO_TIME_ZONE = "Europe/Amsterdam"
    given = dt.datetime(2024, 7, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert time_stamp_aware(given) is given
    assert time_stamp_aware(None) is None
