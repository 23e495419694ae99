"""The pure clinical core: typed values in, typed values out, the knowledge passed in.

Nothing here loads data, reads files or talks to a database: every public function is given
the knowledge (:class:`~benzosafe.knowledge.Knowledge`, or the core
:class:`~benzosafe.knowledge.models.KnowledgeBase` where that is all it needs) by the face
that loaded it. ``findings`` is the shared result vocabulary; ``check`` the prescription
check; ``taper`` the taper planner; ``instruments``, ``triage`` and ``level_of_care`` the
assessment; ``medications`` and ``equivalence`` the drug look-ups they share.
"""
