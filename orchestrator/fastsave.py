"""Insert and update a model instance without the ORM's per-call statement compilation.

``Model.save()`` builds its SQL anew on every call; on the engine's path (four writes per step) that
compiling cost more CPU than the statements cost PostgreSQL. Here the SQL of each (model, columns)
pair is built once per process, and values are prepared by the fields themselves
(``get_db_prep_save``), so every type is written exactly as ``save()`` would write it. No signals are
sent and no ``pre_save`` runs: only for models that have neither receivers nor auto_now fields.

Two writes that always go together can be made in one statement on PostgreSQL (a data-modifying
common table expression): each statement costs the worker more CPU in Django and psycopg than the
database spends on it. Elsewhere they are two statements, in the same order.
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


def insert_with_parent(
    parent: models.Model, parent_fields: Sequence[str], child: models.Model, fields: Sequence[str], link: str
) -> None:
    """INSERT ``parent``, then ``child`` whose foreign key ``link`` (a field name) points at the new
    parent row; ``fields`` are the child's, as for insert()."""
    parent_names, names, conn = tuple(parent_fields), tuple(fields), _connection()
    if conn.vendor != "postgresql":
        insert(parent, parent_names)
        setattr(child, link, parent)
        insert(child, names)
        return
    rest = tuple(name for name in names if name != link)
    sql = _insert_with_parent_sql(type(parent), parent_names, type(child), rest, link)
    with conn.cursor() as cursor:
        cursor.execute(sql, [*_values(parent, parent_names, conn), *_values(child, rest, conn)])
        parent.pk, child.pk = cursor.fetchone()
    setattr(child, link, parent)
    for obj in (parent, child):
        obj._state.adding = False
        obj._state.db = conn.alias


@cache
def _insert_with_parent_sql(
    parent: type[models.Model],
    parent_names: tuple[str, ...],
    child: type[models.Model],
    rest: tuple[str, ...],
    link: str,
) -> str:
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    (link_field,) = _fields(child, (link,))
    columns = ", ".join(quote(field.column) for field in (link_field, *_fields(child, rest)))
    values = ", ".join([f"(SELECT {quote(parent._meta.pk.column)} FROM p)", *["%s"] * len(rest)])  # noqa: S608
    return (
        f"WITH p AS ({_insert_sql(parent, parent_names, 'postgresql')}) "  # noqa: S608
        f"INSERT INTO {quote(child._meta.db_table)} ({columns}) VALUES ({values}) "
        f"RETURNING {quote(link_field.column)}, {quote(child._meta.pk.column)}"
    )


Update = tuple[models.Model, Sequence[str]]  # an instance and the fields of it to write


def update_statement(obj: models.Model, fields: Sequence[str]) -> tuple[str, list[Any]]:
    """update()'s statement and parameters, to be run with others (updates_then)."""
    names, conn = tuple(fields), _connection()
    return _update_sql(type(obj), names, conn.vendor), [*_values(obj, names, conn), obj.pk]


def updates_then(updates: Sequence[Update], sql: str, params: Sequence[Any]) -> int:
    """Make the updates, then run ``sql`` (one INSERT, UPDATE or DELETE, without a WITH of its own);
    returns how many rows ``sql`` changed."""
    conn = _connection()
    if conn.vendor != "postgresql":
        for obj, fields in updates:
            update(obj, fields)
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount
    statements = [update_statement(obj, fields) for obj, fields in updates]
    if statements:
        ctes = ", ".join(f"u{number} AS ({statement})" for number, (statement, _) in enumerate(statements))
        sql = f"WITH {ctes} {sql}"
        params = [*(param for _, values in statements for param in values), *params]
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def update_all(updates: Sequence[Update]) -> None:
    """Make the updates, in order (one statement on PostgreSQL)."""
    if updates:
        updates_then(updates[:-1], *update_statement(*updates[-1]))


@cache
def all_fields(model: type[models.Model]) -> tuple[str, ...]:
    """Every concrete field but the auto primary key: what a full insert writes."""
    return tuple(
        f.name for f in model._meta.concrete_fields if not (f.primary_key and isinstance(f, models.AutoField))
    )
