import pytest, datetime as dt, uuid, time
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.test import Client
from registry.services import processing
from registry.uftp import codec, messages
from tests import factories
from tests.peer_server import RecordingPeer
from tests.scratch.test_q import upd

pytestmark = [pytest.mark.django_db(transaction=True)]
CP="ea1.2024-01.bench.example.com:cp1"
def qry():
    return messages.DSOPortfolioQuery(version="3.1.0", sender_domain="dso1.example.com", recipient_domain="cro.example.com",
        time_stamp=dt.datetime.now(dt.UTC).replace(microsecond=0), message_id=str(uuid.uuid4()),
        conversation_id=str(uuid.uuid4()), time_zone="Europe/Amsterdam", entity_address=CP, period=dt.date(2024,6,15))

def test_q2(make_participant):
    with RecordingPeer([200]) as peer:
        _, key = make_participant("dso1.example.com", "DSO", endpoint_url=peer.url)
        body = factories.signed(upd(1), role="DSO", private_key=key)
        assert Client().post("/shapeshifter/api/v3/message", data=body, content_type="text/xml").status_code == 200
        processing.message_process_next(batch=20)
        for n in range(80):
            body = factories.signed(qry(), role="DSO", private_key=key)
            assert Client().post("/shapeshifter/api/v3/message", data=body, content_type="text/xml").status_code == 200
        processing.message_process_next(batch=1)
        with CaptureQueriesContext(connection) as q:
            t=time.process_time(); step = processing.message_process_next(batch=1); t1=time.process_time()-t
        print("batch1 cpu ms", t1*1000, step.responses[0].result)
        for x in q.captured_queries: print(x["time"], x["sql"][:200])
        t=time.process_time(); step = processing.message_process_next(batch=20); t2=time.process_time()-t
        print("batch20 cpu ms/msg", t2*1000/len(step.messages))
        import cProfile, pstats
        pr=cProfile.Profile(timer=time.process_time); pr.enable(); step = processing.message_process_next(batch=20); pr.disable()
        pstats.Stats(pr).sort_stats("cumulative").print_stats(40)
        pr=cProfile.Profile(timer=time.process_time); pr.enable(); step = processing.message_process_next(batch=1); pr.disable()
        pstats.Stats(pr).sort_stats("tottime").print_stats(25)
