"""Insert and update a model instance without the ORM's per-call statement compilation.

``Model.save()`` builds its SQL anew on every call; on the engine's path (four writes per step) that
compiling cost more CPU than the statements cost PostgreSQL. Here the SQL of each (model, columns)
pair is built once per process, and values are prepared by the fields themselves
(``get_db_prep_save``), so every type is written exactly as ``save()`` would write it. No signals are
sent and no ``pre_save`` runs: only for models that have neither receivers nor auto_now fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper


@cache
def _fields(model: type[models.Model], names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(model._meta.get_field(name) for name in names)


def _connection() -> BaseDatabaseWrapper:
    # The wrapper itself, looked up once per write: every attribute read through django.db.connection
    # is a lookup in asgiref's context-local storage, and preparing ten values made dozens of them.
    return connections[DEFAULT_DB_ALIAS]


@cache
def _insert_sql(model: type[models.Model], names: tuple[str, ...], vendor: str) -> str:
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    columns = ", ".join(quote(field.column) for field in _fields(model, names))
    placeholders = ", ".join(["%s"] * len(names))
    pk = quote(model._meta.pk.column)
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders}) RETURNING {pk}"  # noqa: S608


@cache
def _update_sql(model: type[models.Model], names: tuple[str, ...], vendor: str) -> str:
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in _fields(model, names))
    pk = quote(model._meta.pk.column)
    return f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {pk} = %s"  # noqa: S608


def _values(obj: models.Model, names: tuple[str, ...], conn: BaseDatabaseWrapper) -> list[Any]:
    return [field.get_db_prep_save(getattr(obj, field.attname), conn) for field in _fields(type(obj), names)]


def insert(obj: models.Model, fields: Sequence[str]) -> None:
    """INSERT the given fields (the others take their database defaults: pass every NOT NULL one)."""
    names, conn = tuple(fields), _connection()
    with conn.cursor() as cursor:
        cursor.execute(_insert_sql(type(obj), names, conn.vendor), _values(obj, names, conn))
        obj.pk = cursor.fetchone()[0]
    obj._state.adding = False
    obj._state.db = conn.alias


def update(obj: models.Model, fields: Sequence[str]) -> int:
    """UPDATE the given fields of this row; returns how many rows changed (0 if it is gone)."""
    names, conn = tuple(fields), _connection()
    with conn.cursor() as cursor:
        cursor.execute(_update_sql(type(obj), names, conn.vendor), [*_values(obj, names, conn), obj.pk])
        return cursor.rowcount


def all_fields(model: type[models.Model]) -> tuple[str, ...]:
    """Every concrete field but the auto primary key: what a full insert writes."""
    return tuple(
        f.name for f in model._meta.concrete_fields if not (f.primary_key and isinstance(f, models.AutoField))
    )
