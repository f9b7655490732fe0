from orchestrator.broker import install as _install_broker_transport

# Before any broker connection is made: see orchestrator/broker.py.
_install_broker_transport()

from orchestrator.celery import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
