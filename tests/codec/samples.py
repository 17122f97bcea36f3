"""Typed sample messages (requests the CRO receives, responses it sends) for codec tests."""

from __future__ import annotations

import datetime as dt
import uuid

from registry.uftp import messages as m

CRO_DOMAIN = "cro.example.com"
DSO_DOMAIN = "dso1.example.com"
AGR_DOMAIN = "agr-a.example.com"
TIME_ZONE = "Europe/Amsterdam"
TIME_STAMP = dt.datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=dt.timezone(dt.timedelta(hours=2)))
PERIOD = dt.date(2024, 6, 15)

# Response shapes the official 3.x XSD cannot express (cro-rules §6); sent as the catalog
# documents them.
XSD_EXCEPTION_SHAPES = frozenset(
    {"AGRPortfolioQueryResponse rejected", "AGRPortfolioQueryResponse only unallocated"}
)


def new_id() -> str:
    return str(uuid.uuid4())


def metadata(*, version: str, sender: str, recipient: str) -> dict:
    return {
        "version": version,
        "sender_domain": sender,
        "recipient_domain": recipient,
        "time_stamp": TIME_STAMP,
        "message_id": new_id(),
        "conversation_id": new_id(),
    }


def request_samples(version: str = "3.1.0") -> dict[str, m.PayloadMessage]:
    from_dso = metadata(version=version, sender=DSO_DOMAIN, recipient=CRO_DOMAIN)
    from_agr = metadata(version=version, sender=AGR_DOMAIN, recipient=CRO_DOMAIN)
    return {
        "DSOPortfolioUpdate": m.DSOPortfolioUpdate(
            **from_dso,
            time_zone=TIME_ZONE,
            congestion_points=(
                m.CongestionPointUpdate(
                    entity_address="ean.000000000001",
                    start_period=dt.date(2024, 1, 1),
                    end_period=None,
                    mutex_offers_supported=True,
                    day_ahead_redispatch_by=m.RedispatchBy.DSO,
                    intraday_redispatch_by=m.RedispatchBy.AGR,
                    connections=(
                        m.ConnectionPeriod(
                            entity_address="ean.100000000001", start_period=dt.date(2024, 1, 1)
                        ),
                        m.ConnectionPeriod(
                            entity_address="ean.100000000002",
                            start_period=dt.date(2024, 1, 1),
                            end_period=dt.date(2024, 6, 30),
                        ),
                    ),
                ),
                m.CongestionPointUpdate(
                    entity_address="ea1.2024-03.dso1.example.com:cp-2",
                    start_period=dt.date(2024, 3, 1),
                    end_period=dt.date(2024, 12, 31),
                    mutex_offers_supported=False,
                    day_ahead_redispatch_by=m.RedispatchBy.AGR,
                    intraday_redispatch_by=None,
                    connections=(
                        m.ConnectionPeriod(
                            entity_address="ean.100000000004",
                            start_period=dt.date(2024, 3, 1),
                            end_period=dt.date(2024, 12, 31),
                        ),
                    ),
                ),
            ),
        ),
        "DSOPortfolioQuery": m.DSOPortfolioQuery(
            **from_dso, time_zone=TIME_ZONE, period=PERIOD, entity_address="ean.000000000001"
        ),
        "AGRPortfolioUpdate": m.AGRPortfolioUpdate(
            **from_agr,
            time_zone=TIME_ZONE,
            connections=(
                m.ConnectionPeriod(entity_address="ean.100000000001", start_period=dt.date(2024, 1, 1)),
                m.ConnectionPeriod(
                    entity_address="ean.100000000004",
                    start_period=dt.date(2024, 5, 1),
                    end_period=dt.date(2024, 12, 31),
                ),
            ),
        ),
        "AGRPortfolioQuery": m.AGRPortfolioQuery(**from_agr, time_zone=TIME_ZONE, period=PERIOD),
        "TestMessage": m.TestMessage(**from_dso),
        "TestMessageResponse": m.TestMessageResponse(**from_agr),
    }


def response_samples(version: str) -> dict[str, m.PayloadMessage]:
    """Every response shape the CRO sends, plus the TestMessage it sends itself."""
    to_dso = metadata(version=version, sender=CRO_DOMAIN, recipient=DSO_DOMAIN)
    to_agr = metadata(version=version, sender=CRO_DOMAIN, recipient=AGR_DOMAIN)
    reference = {"reference_message_id": new_id()}
    rejected = {**reference, "result": m.Result.REJECTED}
    query = {"time_zone": TIME_ZONE, "period": PERIOD}
    dso1_portfolio = m.AGRQueryDSOPortfolio(
        dso_domain=DSO_DOMAIN,
        congestion_points=(
            m.AGRQueryCongestionPoint(
                entity_address="ean.000000000001",
                mutex_offers_supported=True,
                day_ahead_redispatch_by=m.RedispatchBy.DSO,
                intraday_redispatch_by=m.RedispatchBy.AGR,
                connections=("ean.100000000001", "ean.100000000002"),
            ),
        ),
    )
    dso2_portfolio = m.AGRQueryDSOPortfolio(
        dso_domain="dso2.example.com",
        congestion_points=(
            m.AGRQueryCongestionPoint(
                entity_address="ean.000000000002",
                mutex_offers_supported=False,
                day_ahead_redispatch_by=m.RedispatchBy.AGR,
                intraday_redispatch_by=None,
                connections=("ean.100000000004",),
            ),
        ),
    )
    return {
        "DSOPortfolioUpdateResponse accepted": m.DSOPortfolioUpdateResponse(**to_dso, **reference),
        "DSOPortfolioUpdateResponse rejected": m.DSOPortfolioUpdateResponse(
            **to_dso,
            **rejected,
            rejection_reason="Connection conflict: [ean.100000000001] at [ean.000000000002]",
        ),
        "AGRPortfolioUpdateResponse accepted": m.AGRPortfolioUpdateResponse(**to_agr, **reference),
        "AGRPortfolioUpdateResponse rejected": m.AGRPortfolioUpdateResponse(
            **to_agr, **rejected, rejection_reason="Period out of bounds"
        ),
        "DSOPortfolioQueryResponse with congestion point": m.DSOPortfolioQueryResponse(
            **to_dso,
            **reference,
            **query,
            congestion_point=m.DSOQueryCongestionPoint(
                entity_address="ean.000000000001",
                connections=(
                    m.DSOQueryConnection(entity_address="ean.100000000001", agr_domain=AGR_DOMAIN),
                    m.DSOQueryConnection(entity_address="ean.100000000003"),
                ),
            ),
        ),
        "DSOPortfolioQueryResponse without congestion point": m.DSOPortfolioQueryResponse(
            **to_dso, **reference, **query
        ),
        "DSOPortfolioQueryResponse rejected": m.DSOPortfolioQueryResponse(
            **to_dso, **rejected, **query, rejection_reason="Unknown congestion point"
        ),
        "AGRPortfolioQueryResponse portfolios and unallocated": m.AGRPortfolioQueryResponse(
            **to_agr,
            **reference,
            **query,
            dso_portfolios=(dso1_portfolio, dso2_portfolio),
            unallocated_connections=("ean.100000000009",),
        ),
        "AGRPortfolioQueryResponse portfolios only": m.AGRPortfolioQueryResponse(
            **to_agr, **reference, **query, dso_portfolios=(dso1_portfolio,)
        ),
        "AGRPortfolioQueryResponse only unallocated": m.AGRPortfolioQueryResponse(
            **to_agr, **reference, **query, unallocated_connections=("ean.100000000002", "ean.100000000009")
        ),
        "AGRPortfolioQueryResponse rejected": m.AGRPortfolioQueryResponse(
            **to_agr, **rejected, **query, rejection_reason="No connections available"
        ),
        "TestMessageResponse": m.TestMessageResponse(**to_dso, **reference, result=m.Result.ACCEPTED),
        "TestMessage": m.TestMessage(**to_agr),
    }
