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

# gthread, closing on its main loop the kept-alive connections their clients closed
# (cro/web_worker.py); WEB_WORKER_CLASS=gthread is gunicorn's own.
worker_class = os.environ.get("WEB_WORKER_CLASS", "cro.web_worker.KeepAliveThreadWorker")
threads = int(os.environ.get("WEB_THREADS", "8"))
# Keep-alive, 2 s: a client that reuses its connection (a proxy, a load balancer, wrk) skips a
# TCP handshake and close per request (bench/accept.py, wrk -c16: 840 req/s against 674
# without), and with cro/web_worker.py a peer that closes after each 200 (the shapeshifter-uftp
# client) costs about as much as without keep-alive. gthread's own keep-alive cost such peers
# about 0.05 ms of CPU per request (its threads noticed each close), so it was off until then.
keepalive = int(os.environ.get("WEB_KEEPALIVE", "2"))
