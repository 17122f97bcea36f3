"""Load a DSO's portfolio from a CSV file (the administrators' CSV import format), e.g. a first load.

    manage.py registry_import --dso dso.example.com portfolio.csv

The whole file is one DSOPortfolioUpdate: the same rules (cro-rules §4), all or nothing. On
PostgreSQL it goes through the set-based bulk load (`portfolio.load`: streamed, checked, COPYed,
then the rules in SQL), with progress in lines/s; elsewhere the file is parsed and applied by the
message engine (`dso_portfolio_update_apply`). A refused file changes nothing: the reasons name
its lines.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.models import Participant
from registry.services import csv_format, csv_io
from registry.services.portfolio import dso_portfolio_update_apply
from registry.services.portfolio.load import (
    LoadProgress,
    LoadRefused,
    dso_portfolio_load,
    dso_portfolio_load_supported,
)


class Command(BaseCommand):
    help = "Load a DSO's portfolio from a CSV file (the CSV import's columns), all or nothing, with progress."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--dso", required=True, help="domain of the DSO that owns the portfolio")

    def handle(self, *args, **options):
        dso = Participant.objects.filter(domain=options["dso"], role=Participant.Role.DSO).first()
        if dso is None:
            raise CommandError(f"no DSO {options['dso']}")
        if dso.is_barred:
            raise CommandError(f"{dso.domain} is barred; reactivate it first")
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"no file {path}")
        try:
            if dso_portfolio_load_supported():
                self._load(dso=dso, path=path)
            else:
                self._apply(dso=dso, path=path)
        except csv_format.CsvInvalid as exc:
            raise CommandError(
                f"{path} is not a valid portfolio CSV; nothing was changed:\n"
                + "\n".join(str(error) for error in exc.row_errors)
            ) from None
        except LoadRefused as exc:
            raise CommandError(
                f"{path} is refused; nothing was changed:\n" + "\n".join(exc.reasons)
            ) from None

    def _progress(self, progress: LoadProgress) -> None:
        if progress.phase == "reading":
            self.stdout.write(
                f"{progress.lines:,} lines read ({progress.lines_per_second:,.0f} lines/s, {progress.seconds:.1f} s)"
            )
        elif progress.phase == "checking":
            self.stdout.write(
                f"{progress.lines:,} lines read ({progress.lines_per_second:,.0f} lines/s, "
                f"{progress.seconds:.1f} s); checking the rules"
            )
        elif progress.phase == "writing":
            self.stdout.write(
                f"{progress.written:,} memberships written ({progress.written_per_second:,.0f}/s, "
                f"{progress.seconds:.1f} s)"
            )

    def _load(self, *, dso: Participant, path: Path) -> None:
        with path.open("rb") as file:
            result = dso_portfolio_load(dso=dso, file=file, progress=self._progress)
        self.stdout.write(
            self.style.SUCCESS(
                f"loaded {result.congestion_points:,} congestion points, {result.connections:,} connections "
                f"in {result.seconds:.1f} s ({result.connections / max(result.seconds, 1e-9):,.0f} "
                f"connections/s): {result.memberships_added:,} memberships added, "
                f"{result.memberships_removed:,} removed, {result.congestion_point_versions_written:,} "
                "congestion point versions written"
            )
        )

    def _apply(self, *, dso: Participant, path: Path) -> None:
        started = time.perf_counter()
        text = csv_io.csv_text_decode(data=path.read_bytes())
        parsed = csv_io.csv_portfolio_parse(text=text)
        self.stdout.write(
            f"{len(parsed.congestion_points):,} congestion points, {parsed.connection_count:,} connections"
        )
        update = csv_io.csv_portfolio_update_build(dso=dso, parsed=parsed)
        outcome = dso_portfolio_update_apply(dso=dso, message=update, source=csv_io.CSV_SOURCE)
        if not outcome.accepted:
            raise LoadRefused(list(outcome.reasons))
        self.stdout.write(
            self.style.SUCCESS(
                f"loaded {parsed.connection_count:,} connections in {time.perf_counter() - started:.1f} s"
            )
        )
