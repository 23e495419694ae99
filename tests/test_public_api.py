"""The public Python API is what benzosafe.__all__ lists; this pins it."""

import benzosafe


def test_public_api_is_pinned() -> None:
    assert sorted(benzosafe.__all__) == sorted(
        [
            "BenzosafeError",
            "CheckReport",
            "Finding",
            "InvalidInput",
            "KnowledgeError",
            "NotEvaluated",
            "Order",
            "Patient",
            "PlanInfeasible",
            "TaperPlan",
            "TaperRequest",
            "UnitError",
            "UnknownDrug",
            "__version__",
            "adjust_plan",
            "check_prescription",
            "load_knowledge",
            "parse_order",
            "parse_patient",
            "Intake",
            "Recommendation",
            "Score",
            "Triage",
            "parse_intake",
            "recommend_level_of_care",
            "score",
            "triage",
            "parse_taper_request",
            "plan_taper",
            "DispensingRecord",
            "DuckDBEngine",
            "ScreenOptions",
            "ScreenResult",
            "SparkEngine",
            "screen",
        ]
    )
    for name in benzosafe.__all__:
        assert hasattr(benzosafe, name), name
