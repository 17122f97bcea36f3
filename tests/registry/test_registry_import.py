"""manage.py registry_import: a DSO's (first) load from the CSV import's format, one update, same rules."""

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


def test_the_file_is_loaded_whole(tmp_path, dso1):
    rows = [(f"ean.90000000000{c}", f"ean.1000000{c}{n:04d}") for c in range(3) for n in range(4)]
    out = StringIO()

    call_command("registry_import", portfolio_csv(tmp_path, rows), dso=dso1.domain, stdout=out)

    assert Membership.objects.current().count() == 12
    assert set(CongestionPoint.objects.values_list("dso__domain", flat=True)) == {dso1.domain}
    assert "12 connections" in out.getvalue()


@pytest.mark.postgres
def test_the_bulk_load_shows_its_progress(tmp_path, dso1, monkeypatch):
    from registry.services.portfolio import load

    monkeypatch.setattr(load, "PROGRESS_EVERY", 5)
    rows = [("ean.900000000001", f"ean.10000000{n:04d}") for n in range(12)]
    out = StringIO()

    call_command("registry_import", portfolio_csv(tmp_path, rows), dso=dso1.domain, stdout=out)

    lines = out.getvalue().splitlines()
    assert [line.split(" lines")[0] for line in lines[:3]] == ["5", "10", "12"]
    assert "lines/s" in lines[0] and lines[2].endswith("checking the rules")
    # Written 5 lines at a time: lines 2-4, 5-9, 10-13 of the file.
    assert [line.split(" memberships")[0] for line in lines[3:-1]] == ["0", "3", "8", "12"]
    assert "1 congestion points, 12 connections" in lines[-1] and "12 memberships added" in lines[-1]


def test_a_refused_file_changes_nothing_and_says_why(tmp_path, dso1, dso2):
    call_command(
        "registry_import",
        portfolio_csv(tmp_path, [("ean.900000000009", "ean.100000009999")]),
        dso=dso2.domain,
        stdout=StringIO(),
    )
    rows = [("ean.900000000001", "ean.100000000001"), ("ean.900000000009", "ean.100000000002")]

    with pytest.raises(CommandError, match="nothing was changed(.|\n)*owned by another DSO"):
        call_command("registry_import", portfolio_csv(tmp_path, rows), dso=dso1.domain, stdout=StringIO())

    assert not Membership.objects.filter(congestion_point__dso=dso1).exists()
    assert not CongestionPoint.objects.filter(dso=dso1).exists()


def test_an_unreadable_line_is_named(tmp_path, dso1):
    path = portfolio_csv(tmp_path, [("ean.900000000001", "ean.100000000001"), ("ean.900000000001", "x")])

    with pytest.raises(CommandError, match="line 3, connection: 'x' is not an entity address"):
        call_command("registry_import", path, dso=dso1.domain, stdout=StringIO())
    assert not Membership.objects.exists()


def test_an_unknown_dso_is_refused(tmp_path):
    with pytest.raises(CommandError, match="no DSO"):
        call_command("registry_import", portfolio_csv(tmp_path, []), dso="nobody.example.com")
