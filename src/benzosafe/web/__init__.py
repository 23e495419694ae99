"""Web faces of benzosafe (FastAPI): the CDS Hooks service, and the clinician web app."""
