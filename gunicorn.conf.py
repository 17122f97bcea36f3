"""gunicorn settings, read by every gunicorn started from the repository (Procfile, tests, bench).

Threads (gthread): a request spends most of its time waiting for PostgreSQL to flush its
commit; threads let one process accept others meanwhile, and PostgreSQL flushes concurrent
commits together. Measured with bench/accept.py (README "Performance").
"""

import os

worker_class = os.environ.get("WEB_WORKER_CLASS", "gthread")
threads = int(os.environ.get("WEB_THREADS", "8"))
