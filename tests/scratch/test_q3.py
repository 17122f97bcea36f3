import pytest, datetime as dt, uuid, time, statistics
from django.test import Client
from registry.services import processing, outbound
from tests import factories
from tests.peer_server import RecordingPeer
from tests.scratch.test_q import upd
from tests.scratch.test_q2 import qry

pytestmark = [pytest.mark.django_db(transaction=True)]

def test_q3(make_participant):
    with RecordingPeer([200]) as peer:
        _, key = make_participant("dso1.example.com", "DSO", endpoint_url=peer.url)
        body = factories.signed(upd(1), role="DSO", private_key=key)
        assert Client().post("/shapeshifter/api/v3/message", data=body, content_type="text/xml").status_code == 200
        processing.message_process_next(batch=20)
        bodies=[factories.signed(qry(), role="DSO", private_key=key) for n in range(60)]
        for b in bodies:
            assert Client().post("/shapeshifter/api/v3/message", data=b, content_type="text/xml").status_code == 200
        for _ in range(5): processing.message_process_next(batch=1)
        ts=[];ds=[]
        for _ in range(20):
            t=time.process_time(); step = processing.message_process_next(batch=1); ts.append(time.process_time()-t)
            t=time.process_time(); outbound.outbound_messages_deliver_claimed(messages=step.responses); ds.append(time.process_time()-t)
        print("batch1 process cpu ms median", statistics.median(ts)*1000, "deliver", statistics.median(ds)*1000)
        import cProfile, pstats
        pr=cProfile.Profile(timer=time.process_time); pr.enable()
        for _ in range(20):
            step = processing.message_process_next(batch=1)
            outbound.outbound_messages_deliver_claimed(messages=step.responses)
        pr.disable()
        pstats.Stats(pr).sort_stats("cumulative").print_stats(60)
