import pytest, datetime as dt, uuid, time
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.test import Client
from registry.services import processing
from registry.uftp import codec, messages
from tests import factories
from tests.peer_server import RecordingPeer

pytestmark = [pytest.mark.django_db(transaction=True)]

def upd(n):
    return messages.DSOPortfolioUpdate(
        version="3.1.0", sender_domain="dso1.example.com", recipient_domain="cro.example.com",
        time_stamp=dt.datetime.now(dt.UTC).replace(microsecond=0), message_id=str(uuid.uuid4()),
        conversation_id=str(uuid.uuid4()), time_zone="Europe/Amsterdam",
        congestion_points=(messages.CongestionPointUpdate(
            entity_address=f"ea1.2024-01.bench.example.com:cp{n}", start_period=dt.date(2024,1,1), end_period=None,
            mutex_offers_supported=True, day_ahead_redispatch_by=messages.RedispatchBy.DSO, intraday_redispatch_by=None,
            connections=(messages.ConnectionPeriod(entity_address=f"ean.{700000000000+n}", start_period=dt.date(2024,1,1)),)),))

def test_q(make_participant):
    with RecordingPeer([200]) as peer:
        _, key = make_participant("dso1.example.com", "DSO", endpoint_url=peer.url)
        for n in range(60):
            body = factories.signed(upd(n), role="DSO", private_key=key)
            assert Client().post("/shapeshifter/api/v3/message", data=body, content_type="text/xml").status_code == 200
        processing.message_process_next(batch=20)
        with CaptureQueriesContext(connection) as q:
            t=time.process_time(); step = processing.message_process_next(batch=1); t1=time.process_time()-t
        print("batch1 cpu ms", t1*1000)
        for x in q.captured_queries: print(x["time"], x["sql"][:300])
        t=time.process_time(); step = processing.message_process_next(batch=20); t2=time.process_time()-t
        print("batch20 cpu ms/msg", t2*1000/len(step.messages))
        import cProfile, pstats
        pr=cProfile.Profile(timer=time.process_time); pr.enable(); step = processing.message_process_next(batch=20); pr.disable()
        pstats.Stats(pr).sort_stats("cumulative").print_stats(45)
