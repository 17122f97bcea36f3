"""CSV import and export of a DSO's congestion points and connections (the admin's bulk path).

An import goes through the very rules and service of the UFTP path: the CSV becomes one
DSOPortfolioUpdate (TimeStamp = now, the market time zone) that
`portfolio.dso_portfolio_update_apply` checks and applies whole or not at all, recorded with
source "csv". First a dry run gives the preview (every change and every rejection); the apply
then runs as a Celery task whose progress the CsvImport row records.

Columns (one row per connection; a CP without connections is one row with the connection
columns empty):
    congestion_point, cp_start, cp_end, mutex_offers_supported, day_ahead_redispatch_by,
    intraday_redispatch_by, connection, connection_start, connection_end
Dates are YYYY-MM-DD (empty end: open-ended), booleans true/false, redispatch AGR/DSO.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from registry import dispatch
from registry.models import CsvImport, Participant
from registry.selectors import dso_portfolio, registry_state
from registry.services import portfolio
from registry.services.csv_format import (
    CSV_COLUMNS,
    CSV_SOURCE,
    DSO_COLUMN,
    ParsedPortfolio,
    csv_lines,
    csv_portfolio_parse,
    csv_text_decode,
)
from registry.services.csv_review import CsvLines, _lines_text, csv_lines_index
from registry.uftp import messages as uftp
from registry.uftp import versions

logger = logging.getLogger(__name__)


def csv_portfolio_update_build(
    *, dso: Participant, parsed: ParsedPortfolio, time_stamp: dt.datetime | None = None
) -> uftp.DSOPortfolioUpdate:
    """The DSOPortfolioUpdate the DSO would have sent: same rules, same service."""
    return uftp.DSOPortfolioUpdate(
        version=versions.profile_for_major(max(versions.SCHEMA_SETS)).version,
        sender_domain=dso.domain,
        recipient_domain=settings.CRO_DOMAIN,
        time_stamp=time_stamp or timezone.now(),
        message_id=str(uuid.uuid4()),
        conversation_id=str(uuid.uuid4()),
        time_zone=settings.CRO_TIME_ZONE,
        congestion_points=parsed.congestion_points,
    )


def _barred_reasons(dso: Participant) -> list[str]:
    # cro-rules §3 item 3 holds for the CSV path too: a barred DSO's portfolio is not changed.
    return [f"Barred Sender: {dso.domain} is barred; reactivate it first"] if dso.is_barred else []


def _other_dso_reasons(*, dso: Participant, lines: CsvLines) -> list[str]:
    # A file exported for every DSO may still hold other DSOs' rows: they are not this DSO's to import.
    return [
        f"Other DSO: lines {_lines_text(numbers)} belong to {domain}, not {dso.domain}"
        for domain, numbers in sorted(lines.dso_lines.items())
        if domain and domain != dso.domain
    ]


# ------------------------------------------------------------------------------ import


def csv_import_preview(*, dso: Participant, data: bytes, file_name: str = "", user=None) -> CsvImport:
    """Read the CSV and dry-run it: a CsvImport holding what would change and every rejection.

    Raises CsvInvalid (nothing stored) when the file is not a readable portfolio, and
    ValidationError when `dso` is not a DSO.
    """
    if dso.role != Participant.Role.DSO:
        raise ValidationError({"dso": f"{dso} is not a DSO"})
    text = csv_text_decode(data=data)
    parsed = csv_portfolio_parse(text=text)
    update = csv_portfolio_update_build(dso=dso, parsed=parsed)
    outcome = portfolio.dso_portfolio_update_apply(dso=dso, message=update, dry_run=True, source=CSV_SOURCE)
    reasons = (
        _barred_reasons(dso)
        + _other_dso_reasons(dso=dso, lines=csv_lines_index(text=text))
        + list(outcome.reasons)
    )
    return CsvImport.objects.create(
        dso=dso,
        created_by=user if user is not None and user.is_authenticated else None,
        file_name=file_name[:255],
        csv_text=text,
        row_count=parsed.row_count,
        congestion_point_count=len(parsed.congestion_points),
        connection_count=parsed.connection_count,
        status=CsvImport.Status.PREVIEWED,
        preview_reasons=reasons,
        preview_changes=list(outcome.changes),
        phase="previewed: waiting for the administrator to apply",
    )


def csv_import_queue(*, csv_import: CsvImport) -> CsvImport:
    """The administrator applies a previewed import: it is queued for a worker (once)."""
    if not csv_import.preview_accepted:
        raise ValidationError("this import was rejected in the preview; fix the CSV and upload it again")
    with transaction.atomic():
        queued = CsvImport.objects.filter(pk=csv_import.pk, status=CsvImport.Status.PREVIEWED).update(
            status=CsvImport.Status.QUEUED,
            progress=5,
            phase="queued: waiting for a worker",
            updated_at=timezone.now(),
        )
        if not queued:
            raise ValidationError("this import was applied already")
        transaction.on_commit(lambda: csv_import_dispatch(csv_import_pk=csv_import.pk))
    csv_import.refresh_from_db()
    return csv_import


def csv_import_dispatch(*, csv_import_pk: int) -> bool:
    """Hand the apply to a worker; run it here when configured so or when the broker is unreachable."""
    if settings.CRO_CSV_IMPORT_INLINE:
        csv_import_apply(csv_import_pk=csv_import_pk)
        return True
    if dispatch.csv_import_enqueue(csv_import_pk=csv_import_pk):
        return True
    # No sweep picks imports up: the administrator's request applies it instead.
    logger.warning("CSV import %s applied in the web process", csv_import_pk)
    csv_import_apply(csv_import_pk=csv_import_pk)
    return False


def _progress(csv_import_pk: int, *, progress: int, phase: str, **extra) -> None:
    CsvImport.objects.filter(pk=csv_import_pk).update(
        progress=progress, phase=phase, updated_at=timezone.now(), **extra
    )


def csv_import_apply(*, csv_import_pk: int) -> CsvImport | None:
    """Apply a queued import: parse again, build the update with TimeStamp now, apply it whole.

    Idempotent: only a queued import is claimed, so a redelivered task does nothing. The
    registry may have changed since the preview; then the import is rejected with the reasons.
    """
    claimed = CsvImport.objects.filter(pk=csv_import_pk, status=CsvImport.Status.QUEUED).update(
        status=CsvImport.Status.APPLYING, progress=10, phase="reading the CSV", updated_at=timezone.now()
    )
    if not claimed:
        return None
    csv_import = CsvImport.objects.select_related("dso").get(pk=csv_import_pk)
    try:
        parsed = csv_portfolio_parse(text=csv_import.csv_text)
        update = csv_portfolio_update_build(dso=csv_import.dso, parsed=parsed)
        _progress(
            csv_import_pk,
            progress=30,
            phase=f"applying {len(parsed.congestion_points)} congestion points with "
            f"{parsed.connection_count} connections in one transaction",
        )
        reasons = _barred_reasons(csv_import.dso)
        outcome = None
        if not reasons:
            outcome = portfolio.dso_portfolio_update_apply(
                dso=csv_import.dso, message=update, dry_run=False, source=CSV_SOURCE
            )
            reasons = list(outcome.reasons)
    except Exception as exc:  # recorded for the administrator; the registry is unchanged
        logger.exception("CSV import %s failed", csv_import_pk)
        _progress(
            csv_import_pk,
            progress=100,
            phase="failed",
            status=CsvImport.Status.FAILED,
            error=f"{exc.__class__.__name__}: {exc}",
            finished_at=timezone.now(),
        )
    else:
        accepted = outcome is not None and outcome.accepted
        _progress(
            csv_import_pk,
            progress=100,
            phase="applied" if accepted else "rejected: the registry changed since the preview",
            status=CsvImport.Status.APPLIED if accepted else CsvImport.Status.REJECTED,
            result_reasons=reasons,
            result_changes=list(outcome.changes) if accepted and outcome is not None else [],
            finished_at=timezone.now(),
        )
    csv_import.refresh_from_db()
    return csv_import


# ------------------------------------------------------------------------------ export


def registry_csv_export(*, selection: registry_state.RegistryFilter) -> Iterator[str]:
    """The registry selection as CSV lines, in the import's columns (3 queries; 4 for every DSO).

    Without a DSO in the selection the rows of several DSOs are mixed: a first column names the
    owner of each row.
    """
    rows = registry_state.registry_export_rows(selection=selection)
    if selection.dso is not None:
        return csv_lines(rows)
    return csv_lines(_with_dso_column(rows), columns=(DSO_COLUMN, *CSV_COLUMNS))


def _with_dso_column(rows: Iterable[tuple[str, ...]]) -> Iterator[tuple[str, ...]]:
    owners: dict[str, str] | None = None
    for row in rows:
        if owners is None:  # read once the export has its first row, in the same snapshot
            owners = dso_portfolio.congestion_point_owner_domains()
        yield (owners.get(row[0], ""), *row)
