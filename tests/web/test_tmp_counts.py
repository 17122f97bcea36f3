import time
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from tests.web.test_query_counts import PAGE_NAMES, pages, big  # noqa


@pytest.mark.parametrize("analyze", [False, True])
def test_print(big, staff_client, analyze):
    if analyze and connection.vendor == "postgresql":
        with connection.cursor() as c:
            c.execute("ANALYZE")
    for name, url in pages(big).items():
        t = time.monotonic()
        with CaptureQueriesContext(connection) as ctx:
            r = staff_client.get(url)
        print(f"{name:20s} {len(ctx.captured_queries):3d} queries {time.monotonic()-t:.3f}s {r.status_code}")
        for q in ctx.captured_queries:
            if float(q["time"]) > 0.1:
                print("   ", q["time"], q["sql"][:300])
