"""gunicorn settings, read by every gunicorn started from the repository (Procfile, tests, bench).

Threads (gthread): a request spends most of its time waiting for PostgreSQL to flush its
commit; threads let one process accept others meanwhile, and PostgreSQL flushes concurrent
commits together. Measured with bench/accept.py (README "Performance").

Checked again in issue 11 (2 cores, gunicorn alone under wrk -t2 -c16, two alternating runs,
load average 4-9 from other jobs): gunicorn CPU per accepted message with 2 workers and 8
threads 1.34/1.46 ms, 4 threads 1.48/1.51, 16 threads 1.51/1.50, 3 workers of 8 threads
1.51/1.59 (and a third process competes with the Celery worker for the same cores). The
access log (Procfile) costs about 0.09 ms of it.
"""

import os

worker_class = os.environ.get("WEB_WORKER_CLASS", "gthread")
threads = int(os.environ.get("WEB_THREADS", "8"))
# Keep-alive off by default: peers (the shapeshifter-uftp client) open a connection per message
# and close it after the 200, so keeping it open only costs gthread a second hand-off per
# connection (to notice the close). bench/e2e.py, two alternating runs each: gunicorn CPU per
# message 3.63/3.83 ms with a 2 s keep-alive, 3.20/3.33 ms without; responses/s 130-139 ->
# 148. Behind a proxy that reuses its upstream connections, set WEB_KEEPALIVE to a few seconds.
keepalive = int(os.environ.get("WEB_KEEPALIVE", "0"))
