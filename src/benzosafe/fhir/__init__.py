"""FHIR R4 adapters: benzosafe's typed values in and out as FHIR resources (fhir.resources R4B).

``instruments`` writes assessment results as Observations. For CDS Hooks, ``request`` reads a
hook call (R4, and the legacy STU3 shapes EHRs still send), ``prefetch`` fetches over FHIR
REST what the call's prefetch lacks, ``medications`` turns MedicationRequest resources into
classified medication facts at the ingredient level, and ``cards`` runs the prescription check
and renders CDS Hooks cards.
"""
