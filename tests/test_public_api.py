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


def test_the_version_has_one_source() -> None:
    """pyproject.toml reads the version from benzosafe/_version.py; nothing repeats it."""
    import tomllib
    from pathlib import Path

    from benzosafe import _version

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text("utf-8"))
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    dynamic = pyproject["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "benzosafe._version.__version__"}
    assert benzosafe.__version__ == _version.__version__
