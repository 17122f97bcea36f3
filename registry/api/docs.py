"""A documentation page rendered on the server from the OpenAPI schema.

The machine has no internet and drf-spectacular-sidecar is not installed, so Swagger UI or Redoc
(JavaScript from a CDN) cannot load; this page needs neither. DRF's browsable API (/api/) is the
interactive part, /api/schema/ the machine-readable one.
"""

from __future__ import annotations

from django.template import Context, Engine
from django.templatetags.static import static

HTTP_METHODS = ("get", "post", "put", "patch", "delete")

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<link rel="stylesheet" href="{{ stylesheet_url }}"></head><body>
<h1>{{ title }} <small>{{ version }}</small></h1>
<p>{{ description }}</p>
<p>Authentication: <code>Authorization: Token &lt;key&gt;</code> or a logged-in session.
Reads need a staff account; writes need the role that allows them (group operator or administrator, or a superuser).
Machine-readable schema: <a href="{{ schema_url }}">OpenAPI (YAML)</a>,
<a href="{{ schema_url }}?format=json">OpenAPI (JSON)</a>. Interactive: <a href="{{ root_url }}">the browsable API</a>.</p>
<h2>Operations</h2>
{% for op in operations %}<div class="op" id="{{ op.operation_id }}">
<div><span class="method {{ op.method }}">{{ op.method }}</span> <code>{{ op.path }}</code> {{ op.summary }}</div>
{% if op.description %}<p>{{ op.description|linebreaksbr }}</p>{% endif %}
{% if op.parameters %}<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>
{% for p in op.parameters %}<tr><td><code>{{ p.name }}</code>{% if p.required %} *{% endif %}</td><td>{{ p.in }}</td><td>{{ p.type }}</td><td>{{ p.description }}</td></tr>{% endfor %}
</table>{% endif %}
{% if op.request %}<div>request body: <a href="#schema-{{ op.request }}">{{ op.request }}</a></div>{% endif %}
<div>responses: {% for r in op.responses %}<code>{{ r.status }}</code>{% if r.schema %} <a href="#schema-{{ r.schema }}">{{ r.schema }}</a>{% endif %}{% if not forloop.last %}, {% endif %}{% endfor %}</div>
</div>{% endfor %}
<h2>Schemas</h2>
{% for s in schemas %}<h3 id="schema-{{ s.name }}">{{ s.name }}</h3>
{% if s.description %}<p>{{ s.description|linebreaksbr }}</p>{% endif %}
{% if s.properties %}<table><tr><th>field</th><th>type</th><th>description</th></tr>
{% for f in s.properties %}<tr><td><code>{{ f.name }}</code>{% if f.required %} *{% endif %}{% if f.read_only %} (read-only){% endif %}</td><td>{{ f.type }}</td><td>{{ f.description }}</td></tr>{% endfor %}
</table>{% else %}<p>{{ s.type }}</p>{% endif %}
{% endfor %}
</body></html>
"""

_ENGINE = Engine(autoescape=True)


def _ref_name(schema: dict | None) -> str:
    if not schema:
        return ""
    ref = schema.get("$ref") or (schema.get("items") or {}).get("$ref", "")
    if not ref and "allOf" in schema:
        ref = schema["allOf"][0].get("$ref", "")
    return ref.rsplit("/", 1)[-1]


def _describe_type(schema: dict) -> str:
    if not schema:
        return ""
    name = _ref_name(schema)
    if name:
        return f"{name}[]" if schema.get("type") == "array" else name
    text = schema.get("type", "object")
    if text == "array":
        text = f"{_describe_type(schema.get('items') or {}) or 'any'}[]"
    if schema.get("format"):
        text += f" ({schema['format']})"
    if schema.get("enum"):
        text += ": " + " | ".join(str(value) for value in schema["enum"] if value is not None)
    if schema.get("pattern"):
        text += f" matching {schema['pattern']}"
    if schema.get("nullable"):
        text += ", nullable"
    return text


def _json_schema(content: dict | None) -> dict | None:
    if not content:
        return None
    media = content.get("application/json") or next(iter(content.values()), {})
    return media.get("schema")


def render_docs(schema: dict, *, schema_url: str, root_url: str) -> str:
    operations = []
    for path, item in schema.get("paths", {}).items():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            operations.append(
                {
                    "method": method,
                    "path": path,
                    "operation_id": operation.get("operationId", ""),
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "parameters": [
                        {
                            "name": parameter["name"],
                            "in": parameter["in"],
                            "required": parameter.get("required", False),
                            "type": _describe_type(parameter.get("schema", {})),
                            "description": parameter.get("description", ""),
                        }
                        for parameter in operation.get("parameters", [])
                    ],
                    "request": _ref_name(_json_schema((operation.get("requestBody") or {}).get("content"))),
                    "responses": [
                        {"status": status, "schema": _ref_name(_json_schema(response.get("content")))}
                        for status, response in operation.get("responses", {}).items()
                    ],
                }
            )
    schemas = []
    for name, component in schema.get("components", {}).get("schemas", {}).items():
        required = set(component.get("required", []))
        schemas.append(
            {
                "name": name,
                "description": component.get("description", ""),
                "type": _describe_type(component),
                "properties": [
                    {
                        "name": field,
                        "type": _describe_type(field_schema),
                        "required": field in required,
                        "read_only": field_schema.get("readOnly", False),
                        "description": field_schema.get("description", ""),
                    }
                    for field, field_schema in component.get("properties", {}).items()
                ],
            }
        )
    info = schema.get("info", {})
    context = {
        "title": info.get("title", "API"),
        "version": info.get("version", ""),
        "description": info.get("description", ""),
        "schema_url": schema_url,
        "root_url": root_url,
        # A stylesheet file: the Content-Security-Policy refuses inline styles.
        "stylesheet_url": static("web/api-docs.css"),
        "operations": operations,
        "schemas": schemas,
    }
    return _ENGINE.from_string(_TEMPLATE).render(Context(context))
