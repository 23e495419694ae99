"""Web faces of benzosafe (FastAPI), two apps in two rooms that share nothing but the core.

:mod:`benzosafe.web.clinic` is the clinician web app: server-rendered pages and a JSON API
over the patient records, behind a signed-in session. :mod:`benzosafe.web.cds` is the CDS Hooks
service an EHR calls with its signed JWT, answering with cards or an OperationOutcome. The
clinic app can mount the CDS app at ``/cds``; each keeps its own authentication and errors.
"""
