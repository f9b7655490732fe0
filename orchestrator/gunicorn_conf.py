"""Production web server settings: `gunicorn -c python:orchestrator.gunicorn_conf orchestrator.wsgi`.

Every value can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import os

bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
# Webhook URLs carry their key in the path: the access log goes through a logger that redacts it.
logger_class = "orchestrator.gunicorn_logging.RedactingLogger"
accesslog = os.environ.get("WEB_ACCESS_LOG", "-")
