"""FHIR R4 adapters: benzosafe's typed values in and out as FHIR resources (fhir.resources R4B)."""
