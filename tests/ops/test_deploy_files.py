"""The sample monitoring configuration in deploy/ parses and names metrics that exist."""

import json
import re
import shutil
import subprocess

import pytest
import yaml

from registry import metrics
from tests.e2e.processes import REPO

DEPLOY = REPO / "deploy"
DEFINED = {
    "cro_messages_received_total",
    "cro_http_refusals_total",
    "cro_messages_processed_total",
    "cro_delivery_attempts_total",
    "cro_accept_seconds_bucket",
    "cro_processing_seconds_bucket",
    "cro_delivery_seconds_bucket",
    "cro_messages_pending",
    "cro_messages_pending_oldest_age_seconds",
    "cro_deliveries_failed",
    "cro_heartbeat_age_seconds",
    "cro_participants",
}


def _used_metric_names(text: str) -> set[str]:
    return set(re.findall(r"\bcro_[a-z_]+\b", text))


def test_alert_rules_parse_and_cover_the_required_alerts():
    rules = yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert {"CroWorkerDown", "CroBeatDown", "CroMessagesStuck", "CroDeliveryFailuresRising"} <= set(alerts)
    for rule in alerts.values():
        assert rule["expr"].strip()
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert _used_metric_names(rule["expr"]) <= DEFINED, rule["expr"]


def test_grafana_dashboard_parses_and_queries_defined_metrics():
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(expressions) >= 8
    used = set().union(*(_used_metric_names(expr) for expr in expressions))
    assert used <= DEFINED
    assert {"cro_messages_received_total", "cro_heartbeat_age_seconds"} <= used


def test_the_metrics_module_defines_what_the_files_use():
    names = {
        metric._name + ("_total" if metric._type == "counter" else "_bucket")
        for metric in (
            metrics.MESSAGES_RECEIVED,
            metrics.HTTP_REFUSALS,
            metrics.MESSAGES_PROCESSED,
            metrics.DELIVERY_ATTEMPTS,
            metrics.ACCEPT_SECONDS,
            metrics.PROCESSING_SECONDS,
            metrics.DELIVERY_SECONDS,
        )
    }
    assert names <= DEFINED


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_alert_rules():
    subprocess.run(["promtool", "check", "rules", str(DEPLOY / "prometheus-alerts.yml")], check=True)
