"""The clinician web app: server-rendered pages and a JSON API over the treatment records.

``create_app(settings)`` in :mod:`.app` builds it; :mod:`.settings` reads the environment and
refuses a default secret outside development; :mod:`.auth` and :mod:`.deps` say who is asking;
:mod:`.actions` is what the pages (:mod:`.pages`) and the API (:mod:`.api`) both do;
:mod:`.errors` gives every failure one JSON shape or one error page; :mod:`.charts` draws the
patient page's SVG charts.
"""
