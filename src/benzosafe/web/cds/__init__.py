"""The CDS Hooks service: discovery, the order-select, order-sign and patient-view services,
and card feedback, for an EHR that calls with its signed JWT.

:mod:`.app` serves it on its own (``benzosafe serve-cds``) or for the clinic app to mount;
:mod:`.gate` authenticates each call and bounds its body before anything reads it;
:mod:`.service` holds the endpoints, :mod:`.settings` how it runs, :mod:`.auth` the JWT
checks, :mod:`.keys` the trusted issuers and their cached key sets, :mod:`.store` and
:mod:`.store_shared` its state (SQLite, PostgreSQL or Redis) and :mod:`.errors` the
OperationOutcome answers. Reading the hook request, fetching missing prefetch and rendering
cards live in :mod:`benzosafe.fhir`.
"""
