"""`manage.py cro_info` prints the DNS records the CRO publishes, ready for a zone file."""

from io import StringIO

import dns.rdatatype
import dns.zone
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from cro.signing import cro_public_key
from registry.uftp import keys


def cro_info(*args: str) -> str:
    out = StringIO()
    call_command("cro_info", *args, stdout=out)
    return out.getvalue()


def zone_of(output: str) -> dns.zone.Zone:
    """The printed records, read by dnspython's zone-file parser."""
    records = [line for line in output.splitlines() if " IN " in line]
    assert len(records) == 3, output
    return dns.zone.from_text(
        "\n".join(records) + "\n", origin=settings.CRO_DOMAIN, relativize=False, check_origin=False
    )


def test_the_three_records_parse_as_a_zone_file_and_say_the_right_things():
    zone = zone_of(cro_info("--endpoint-host", "uftp.cro.example.com"))
    domain = settings.CRO_DOMAIN
    txt = zone.find_rdataset(f"_cro._usef.{domain}.", dns.rdatatype.TXT)
    cs1 = b"".join(next(iter(txt)).strings).decode()
    assert keys.from_cs1(cs1)[0] == cro_public_key()
    cname = zone.find_rdataset(f"_http._cro._usef.{domain}.", dns.rdatatype.CNAME)
    assert next(iter(cname)).target.to_text() == "uftp.cro.example.com."
    version = zone.find_rdataset(f"_usef.{domain}.", dns.rdatatype.TXT)
    assert next(iter(version)).strings == (b"3.1.0",)


def test_the_defaults_and_the_version_option():
    output = cro_info("--dns-version", "4.0.0")
    zone = zone_of(output)
    cname = zone.find_rdataset(f"_http._cro._usef.{settings.CRO_DOMAIN}.", dns.rdatatype.CNAME)
    assert next(iter(cname)).target.to_text() == f"{settings.CRO_DOMAIN}."
    assert next(iter(zone.find_rdataset(f"_usef.{settings.CRO_DOMAIN}.", dns.rdatatype.TXT))).strings == (
        b"4.0.0",
    )
    assert "/shapeshifter/api/v3/message (3.0.0, 3.1.0)" in output
    assert "/shapeshifter/api/v4/message (4.0.0)" in output


def test_a_bad_endpoint_host_is_refused():
    with pytest.raises(CommandError, match="not a host name"):
        cro_info("--endpoint-host", "not a host")
