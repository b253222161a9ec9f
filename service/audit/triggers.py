"""Triggers that make the database itself refuse UPDATE and DELETE on the append-only tables.

The stored events, the log's leaves, its tree heads and its block roots are history: no bug in
the service may rewrite them. Only someone who can drop the triggers can, and ``knewwhen
verify`` catches that.
"""

from __future__ import annotations

from service.projections.dialect import LOG_TABLES, Dialect

PG_FUNCTION = "kw_refuse_rewrite"


def append_only_tables(events_table: str) -> tuple[str, ...]:
    """The tables whose rows may be inserted but never changed: events and the log's."""
    return (events_table, *LOG_TABLES)


def trigger_name(table: str, operation: str) -> str:
    """The name of the trigger refusing ``operation`` (update, delete, truncate) on ``table``."""
    return f"{table}_no_{operation}"


def append_only_statements(dialect: Dialect, events_table: str) -> list[str]:
    """CREATE statements for the refusing triggers, idempotent, for one database."""
    tables = append_only_tables(events_table)
    if dialect.name == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {trigger_name(table, op.lower())}"
            f" BEFORE {op} ON {table} BEGIN"
            f" SELECT RAISE(ABORT, 'knewwhen: {table} is append-only ({op} refused)'); END"
            for table in tables
            for op in ("UPDATE", "DELETE")
        ]
    function = (
        f"CREATE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $f$"
        " BEGIN RAISE EXCEPTION USING"
        " MESSAGE = 'knewwhen: ' || TG_TABLE_NAME || ' is append-only (' || TG_OP || ' refused)',"
        " ERRCODE = 'insufficient_privilege'; END $f$"
    )
    statements = [if_absent("pg_proc", "proname", PG_FUNCTION, function)]
    for table in tables:
        for op, level in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT")):
            name = trigger_name(table, op.lower())
            create = (
                f"CREATE TRIGGER {name} BEFORE {op} ON {table}"
                f" FOR EACH {level} EXECUTE FUNCTION {PG_FUNCTION}()"
            )
            statements.append(if_absent("pg_trigger", "tgname", name, create))
    return statements


def if_absent(catalog: str, column: str, name: str, statement: str) -> str:
    """A PostgreSQL block running ``statement`` unless ``name`` exists (or a racing process made it)."""
    return (
        f"DO $do$ BEGIN IF NOT EXISTS (SELECT 1 FROM {catalog} WHERE {column} = '{name}')"
        f" THEN EXECUTE $s${statement}$s$; END IF;"
        " EXCEPTION WHEN duplicate_object OR duplicate_function OR unique_violation THEN NULL;"
        " END $do$"
    )
