"""English date formats of the CRO: ISO order, and every date-time labelled with its zone (the
display zone, settings.CRO_DISPLAY_TIME_ZONE), so that no page shows a time without one."""

DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
