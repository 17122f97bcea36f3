"""The API documentation: drf-spectacular's Swagger UI and ReDoc from our own static files, the
schema as valid YAML and valid OpenAPI, a login page (not a bare 401) for visitors."""

import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


def directives(policy: str) -> dict[str, str]:
    return dict((part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";") if part.strip())


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_a_visitor_is_sent_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


def test_swagger_ui_is_served_from_our_static_files_under_the_strict_policy(admin_client):
    response = admin_client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any(source.endswith("swagger-ui-bundle.js") for source in sources)
    assert all(source.startswith("/") for source in sources), sources
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=", page)
    for source in sources:
        if source.startswith("/static/"):
            assert finders.find(source.removeprefix("/static/")), source
    policy = directives(response["Content-Security-Policy"])
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    script = admin_client.get("/api/docs/", {"script": ""})
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()
    assert "validatorUrl" in script.content.decode()


def test_redoc_is_served_from_our_static_files(admin_client):
    response = admin_client.get("/api/redoc/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "googleapis" not in page
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any("redoc.standalone.js" in source for source in sources)
    assert all(source.startswith("/") for source in sources), sources
    policy = directives(response["Content-Security-Policy"])
    assert policy["script-src"] == "'self'"
    assert "http" not in response["Content-Security-Policy"]


def test_the_schema_is_valid_yaml_and_valid_openapi(admin_client):
    response = admin_client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    validate(schema)
    assert schema["openapi"].startswith("3.")
    assert "/api/participants/" in schema["paths"]
