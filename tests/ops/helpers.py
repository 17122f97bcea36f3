"""Reading /metrics back in the tests."""

from prometheus_client.parser import text_string_to_metric_families


def sample(text: str, name: str, **labels) -> float:
    """The value of one sample of the exposition `text` (0 when absent: a counter not yet moved)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return 0.0
