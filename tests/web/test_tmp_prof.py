import cProfile, pstats, time
from tests.web.test_query_counts import big  # noqa


def test_prof(big, staff_client):
    staff_client.get("/registry/")
    t = time.monotonic()
    pr = cProfile.Profile()
    pr.enable()
    staff_client.get("/registry/")
    pr.disable()
    print("total", time.monotonic() - t)
    pstats.Stats(pr).sort_stats("tottime").print_stats(25)
