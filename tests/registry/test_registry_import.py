"""manage.py registry_import: a DSO's first load from the CSV import's format, in chunks, same rules."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from registry.models import CongestionPoint, Membership
from registry.selectors.registry_state import EXPORT_COLUMNS

pytestmark = pytest.mark.django_db


def portfolio_csv(tmp_path, rows: list[tuple[str, str]]) -> str:
    """(CP address, connection address) rows, every CP and connection from 2024-01-01."""
    lines = [",".join(EXPORT_COLUMNS)]
    lines += [f"{cp},2024-01-01,,true,DSO,AGR,{connection},2024-01-01," for cp, connection in rows]
    path = tmp_path / "portfolio.csv"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_the_file_is_loaded_in_chunks_of_whole_congestion_points(tmp_path, dso1):
    rows = [(f"ean.90000000000{c}", f"ean.1000000{c}{n:04d}") for c in range(3) for n in range(4)]
    out = StringIO()

    call_command("registry_import", portfolio_csv(tmp_path, rows), dso=dso1.domain, chunk=5, stdout=out)

    assert Membership.objects.current().count() == 12
    assert set(CongestionPoint.objects.values_list("dso__domain", flat=True)) == {dso1.domain}
    # 4 + 4 >= 5: two CPs in the first chunk, then the third.
    assert "8/12 connections" in out.getvalue() and "12/12 connections" in out.getvalue()


def test_a_rejected_chunk_stops_the_load_with_the_rules_reason(tmp_path, dso1, dso2):
    call_command(
        "registry_import",
        portfolio_csv(tmp_path, [("ean.900000000009", "ean.100000009999")]),
        dso=dso2.domain,
        stdout=StringIO(),
    )
    rows = [("ean.900000000001", "ean.100000000001"), ("ean.900000000009", "ean.100000000002")]

    with pytest.raises(CommandError, match="owned by another DSO"):
        call_command(
            "registry_import", portfolio_csv(tmp_path, rows), dso=dso1.domain, chunk=1, stdout=StringIO()
        )

    # The first chunk (its own CP) was applied; the rejected one changed nothing.
    assert list(
        Membership.objects.current()
        .filter(congestion_point__dso=dso1)
        .values_list("connection_address", flat=True)
    ) == ["ean.100000000001"]


def test_an_unknown_dso_is_refused(tmp_path):
    with pytest.raises(CommandError, match="no DSO"):
        call_command("registry_import", portfolio_csv(tmp_path, []), dso="nobody.example.com")
