"""Production web server settings: `gunicorn -c python:orchestrator.gunicorn_conf orchestrator.wsgi`.

Every value can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import os
from typing import Any

bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
# Each worker process listens on its own socket (SO_REUSEPORT) and the kernel spreads new connections
# over them. With one shared socket, whichever process is idle accepts, and a kept-alive connection
# stays with its process for good: measured, 16 senders' connections all went to one of the two
# processes one time in three, which then served 540 webhooks/s on one core while the other idled
# (~950/s when spread). The cost: when a worker dies, connections still waiting in its own backlog are
# reset, and until the master replaces it only the other workers listen. So it is off with a single
# worker, where there is nothing to spread and nobody else would be listening during the restart.
reuse_port = os.environ.get("WEB_REUSE_PORT", "1" if workers > 1 else "0") not in ("0", "false", "False", "")
# Webhook URLs carry their key in the path: the access log goes through a logger that redacts it.
logger_class = "orchestrator.gunicorn_logging.RedactingLogger"
accesslog = os.environ.get("WEB_ACCESS_LOG", "-")

# gthread (threads > 1) puts no limit on reading a request: --timeout only watches the worker process,
# which stays alive while one of its threads waits on a sender that stalls mid-body. Bound every read
# (and write) of the request's socket; the receive path answers a stalled body 408.
body_timeout = float(os.environ.get("WEB_BODY_TIMEOUT", "30"))


def pre_request(worker: Any, req: Any) -> None:
    sock = getattr(req.unreader, "sock", None)
    if sock is not None:
        sock.settimeout(body_timeout)


# gunicorn 27's control socket defaults to ~/.gunicorn/gunicorn.ctl, one path for every server of the
# user: two servers on one machine (a deploy, a benchmark, the tests) would take it from each other.
# Off unless WEB_CONTROL_SOCKET names a path for this server.
if os.environ.get("WEB_CONTROL_SOCKET"):
    control_socket = os.environ["WEB_CONTROL_SOCKET"]
else:
    control_socket_disable = True
