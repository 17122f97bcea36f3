"""The OpenAPI schema, the documentation page, the CRO's own public data, and the promise that
nothing private ever leaves the API."""

import base64
import json

import pytest
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from registry.uftp import keys
from tests.api.conftest import make_message


def served_schema(client) -> dict:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def test_the_served_schema_is_valid_openapi_and_the_one_the_fuzz_test_uses(users, staff_client):
    schema = served_schema(staff_client)
    validate_schema(schema)
    assert schema == json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))
    assert schema["components"]["securitySchemes"]["tokenAuth"]["name"] == "Authorization"
    paths = schema["paths"]
    assert set(paths["/api/participants/"]) == {"get", "post"}
    assert set(paths["/api/participants/{id}/"]) == {"get", "put", "patch"}
    assert "/api/messages/{id}/retry/" in paths
    assert "/api/schema/" not in paths and "/api/docs/" not in paths


def test_every_operation_documents_its_refusals(users, staff_client):
    for path, item in served_schema(staff_client)["paths"].items():
        for method, operation in item.items():
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
            if "{id}" in path:
                assert "404" in operation["responses"], (method, path)


def test_list_parameters_are_documented(users, staff_client):
    parameters = {
        p["name"]: p["schema"]
        for p in served_schema(staff_client)["paths"]["/api/congestion-points/"]["get"]["parameters"]
    }
    assert parameters["as_of"]["format"] == "date-time"
    assert parameters["active_on"]["format"] == "date"
    assert {"dso", "agr", "entity_address", "connection", "created_after", "created_before"} <= set(
        parameters
    )
    assert (parameters["limit"]["minimum"], parameters["limit"]["maximum"]) == (1, 1000)


def test_the_schema_is_also_served_as_yaml(users, staff_client):
    response = staff_client.get("/api/schema/")
    assert response.status_code == 200
    assert response.content.startswith(b"openapi: 3.")


def test_the_browsable_api_lists_the_endpoints(users, staff_client):
    response = staff_client.get("/api/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"/api/congestion-points/" in response.content


@pytest.mark.parametrize(
    "url",
    [
        "/api/participants/",
        "/api/participants/{agr}/",
        "/api/participants/{agr}/rotate-key/",
        "/api/congestion-points/",
        "/api/agr-portfolios/{agr}/",
        "/api/agr-portfolios/{agr}/connections/",
        "/api/history/memberships/",
        "/api/messages/",
        "/api/messages/{message}/",
    ],
)
def test_the_browsable_api_renders_for_administrators(registry, admin_client, url):
    """With its forms for the writes (the browsable API builds them from the write serializers)."""
    message = make_message(registry.dso1, direction="out", status="failed")
    response = admin_client.get(
        url.format(agr=registry.agr_a.pk, message=message.pk), HTTP_ACCEPT="text/html"
    )
    assert response.status_code in (200, 405)
    assert response["Content-Type"].startswith("text/html")


def test_cro_endpoint_publishes_the_public_key_only(users, staff_client):
    body = staff_client.get("/api/cro/").json()
    public_key = keys.public_key_from_private(settings.CRO_SIGNING_KEY)
    assert body == {
        "domain": settings.CRO_DOMAIN,
        "role": "CRO",
        "public_key": public_key,
        "public_key_cs1": keys.to_cs1(public_key),
        "mode": settings.CRO_MODE,
        "time_zone": settings.CRO_TIME_ZONE,
        "supported_versions": ["3.0.0", "3.1.0", "4.0.0"],
    }


def test_nothing_private_in_any_answer(registry, users, admin_client):
    """Crawl every readable URL as an administrator, XML included: the CRO's private key (nor its
    seed) never appears."""
    message = make_message(registry.dso1, direction="out", status="failed")
    admin_client.post(f"/api/participants/{registry.agr_a.pk}/test-message/", {}, format="json")
    private = settings.CRO_SIGNING_KEY
    seed = base64.b64encode(base64.b64decode(private)[:32]).decode()
    urls = [
        "/api/",
        "/api/cro/",
        "/api/schema/",
        "/api/participants/",
        f"/api/participants/{registry.agr_a.pk}/",
        "/api/congestion-points/",
        "/api/agr-portfolios/",
        f"/api/agr-portfolios/{registry.agr_a.pk}/query-answer/?period=2024-06-15",
        f"/api/agr-portfolios/{registry.agr_a.pk}/connections/",
        "/api/history/congestion-points/",
        "/api/history/memberships/",
        "/api/history/representations/",
        "/api/messages/?include=xml",
        f"/api/messages/{message.pk}/?include=xml",
    ]
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        text = response.content.decode()
        assert private not in text and seed not in text, url


def test_no_field_of_any_answer_is_secret(users, staff_client):
    for name, component in served_schema(staff_client)["components"]["schemas"].items():
        for field in component.get("properties", {}):
            assert not {"private", "secret", "password", "token", "seed"} & set(field.split("_")), (
                name,
                field,
            )
