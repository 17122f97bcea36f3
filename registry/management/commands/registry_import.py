"""First load of a DSO's portfolio from a CSV file (the administrators' CSV import format).

    manage.py registry_import --dso dso.example.com portfolio.csv

The file is read with the CSV import's parser and applied through the same service as a
DSOPortfolioUpdate message (one rule path), in chunks of whole congestion points of about
`--chunk` connections. Each chunk is all-or-nothing; the command stops at the first rejected chunk
and says which congestion points were applied before it (applying the file again is harmless:
unchanged rows stay).
"""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.models import Participant
from registry.services import csv_format, csv_io
from registry.services.portfolio import dso_portfolio_update_apply


class Command(BaseCommand):
    help = "Load a DSO's portfolio from a CSV file (the CSV import's columns), in chunks, with progress."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--dso", required=True, help="domain of the DSO that owns the portfolio")
        parser.add_argument("--chunk", type=int, default=50_000, help="connections per transaction")

    def handle(self, *args, **options):
        dso = Participant.objects.filter(domain=options["dso"], role=Participant.Role.DSO).first()
        if dso is None:
            raise CommandError(f"no DSO {options['dso']}")
        if dso.is_barred:
            raise CommandError(f"{dso.domain} is barred; reactivate it first")
        try:
            text = csv_io.csv_text_decode(data=options["file"].read_bytes())
            parsed = csv_io.csv_portfolio_parse(text=text)
        except csv_format.CsvInvalid as exc:
            raise CommandError(f"{options['file']} is not a valid portfolio CSV:\n{exc}") from None
        total = parsed.connection_count
        self.stdout.write(f"{len(parsed.congestion_points):,} congestion points, {total:,} connections")
        started = time.perf_counter()
        done = 0
        for chunk in _chunks(parsed.congestion_points, size=options["chunk"]):
            update = csv_io.csv_portfolio_update_build(
                dso=dso, parsed=csv_io.ParsedPortfolio(congestion_points=chunk, row_count=0)
            )
            outcome = dso_portfolio_update_apply(dso=dso, message=update, source=csv_io.CSV_SOURCE)
            if not outcome.accepted:
                raise CommandError(
                    f"rejected at congestion point {chunk[0].entity_address} after {done:,} connections "
                    f"were applied:\n" + "\n".join(outcome.reasons)
                )
            done += sum(len(cp.connections) for cp in chunk)
            elapsed = time.perf_counter() - started
            self.stdout.write(f"{done:,}/{total:,} connections ({done / elapsed:,.0f} connections/s)")
        self.stdout.write(
            self.style.SUCCESS(f"loaded {done:,} connections in {time.perf_counter() - started:.1f} s")
        )


def _chunks(congestion_points, *, size: int):
    """Whole congestion points, about `size` connections per chunk."""
    chunk, count = [], 0
    for cp in congestion_points:
        chunk.append(cp)
        count += len(cp.connections)
        if count >= size:
            yield tuple(chunk)
            chunk, count = [], 0
    if chunk:
        yield tuple(chunk)
