from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
django_application = get_wsgi_application()

# Webhooks are answered in front of the middleware stack (see the module); everything else by Django.
from orchestrator.webhook_route import WebhookRoute  # noqa: E402  (needs Django set up)

application = WebhookRoute(django_application)
