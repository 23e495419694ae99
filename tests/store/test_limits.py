"""The model is the one source of the field limits: the migrated tables, on SQLite and on
PostgreSQL, have exactly the model's text columns with the model's lengths (#18)."""

from __future__ import annotations

from sqlalchemy import String, inspect

from benzosafe.store.db import make_engine
from benzosafe.store.limits import text_columns


def test_migrated_text_columns_are_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            found = inspect(connection)
            migrated = {
                f"{table}.{column['name']}": column["type"]
                for table in found.get_table_names()
                if table != "alembic_version"
                for column in found.get_columns(table)
                if isinstance(column["type"], String)
            }
    finally:
        engine.dispose()
    model = text_columns()
    assert set(migrated) == set(model)
    for name, column in model.items():
        assert getattr(migrated[name], "length", None) == getattr(column.type, "length", None), name
