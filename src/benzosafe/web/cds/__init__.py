"""The CDS Hooks service: discovery, the order-select, order-sign and patient-view services,
and card feedback, for an EHR that calls with its signed JWT.

:mod:`.app` serves it on its own (``benzosafe serve-cds``) or for the clinic app to mount;
:mod:`.service` holds the endpoints, :mod:`.settings` how it runs, :mod:`.auth` the JWT checks,
:mod:`.store` its small SQLite state and :mod:`.errors` the OperationOutcome answers. Reading
the hook request, fetching missing prefetch and rendering cards live in :mod:`benzosafe.fhir`.
"""
