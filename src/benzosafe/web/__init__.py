"""Web faces of benzosafe (FastAPI): the CDS Hooks service, and the clinician web app.

The clinician web app: server-rendered pages and a JSON API over the records.
``create_app(settings)`` in :mod:`benzosafe.web.app` builds it; :mod:`.settings` reads the
environment and refuses a default secret outside development.
"""
