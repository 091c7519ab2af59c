"""Database helpers for long-lived worker processes."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

import psycopg
from django.conf import settings
from django.db import connections, models, transaction
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.db.utils import InterfaceError, OperationalError

logger = logging.getLogger(__name__)
T = TypeVar("T")


def run_with_reconnect(
    operation: Callable[[], T], *, attempts: int = 30, delay: float = 0.5, alias: str = "default"
) -> T:
    """Run a single autocommit statement; on a broken connection reconnect and run it again.

    Only for statements that are safe to repeat (the conditional updates of the task
    lifecycle are: their WHERE clause makes a second run a no-op).
    """
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except (OperationalError, InterfaceError) as error:
            conn = connections[alias]
            if conn.in_atomic_block or attempt == attempts:
                raise
            logger.warning("Database unavailable (%s); reconnecting, try %d/%d", error, attempt, attempts)
            conn.close()
            time.sleep(min(delay * attempt, 5.0))
    raise AssertionError("unreachable")


_insert_fields_cache: dict[type, list[models.Field]] = {}


def _insert_fields(meta) -> list[models.Field]:
    fields = _insert_fields_cache.get(meta.model)
    if fields is None:
        fields = _insert_fields_cache[meta.model] = [f for f in meta.concrete_fields if f is not meta.auto_field]
    return fields


# Field classes whose database preparation hands back a value of these exact types unchanged
# (to_python of a str is the str): a bulk insert skips the call for them, a large part of its
# time at 10,000 rows. Other fields (integers become psycopg's typed Int4 and the like), enums
# and other types go through it.
_PLAIN_FIELDS = frozenset({models.CharField, models.TextField, models.BooleanField})
_PLAIN_VALUES = frozenset({str, bool, type(None)})


def _row_values(obj: models.Model, fields: list[models.Field], connection) -> list:
    # As save() does: pre_save (auto_now_add) and the field's database preparation.
    values = []
    for field in fields:
        value = field.pre_save(obj, True)
        if type(value) not in _PLAIN_VALUES or type(field) not in _PLAIN_FIELDS:
            value = field.get_db_prep_save(value, connection)
        values.append(value)
    return values


# Values whose database preparation a COPY of many rows does once per distinct (field, type,
# value) and reuses: the preparation of these immutable types (and of enum members, such as a
# TextChoices status) depends on the value alone.
_MEMO_VALUES = frozenset({str, int, bool, float, type(None)})


def _passes_through(field: models.Field, connection) -> type | None:
    """The one value type this exact field class hands to the database unchanged, if any.

    An aware datetime in a DateTimeField (PostgreSQL adapts it as it is; only a naive one is
    converted) and a UUID in a UUIDField where the database has a uuid type.
    """
    if type(field) is models.DateTimeField and connection.vendor == "postgresql":
        return datetime
    if type(field) is models.UUIDField and connection.features.has_native_uuid_field:
        return uuid.UUID
    return None


def _simple_pre_save(field: models.Field) -> bool:
    # Field.pre_save reads the attribute; a date field's does more only with auto_now(_add).
    if type(field).pre_save is models.Field.pre_save:
        return True
    return isinstance(field, models.DateField) and not field.auto_now and not field.auto_now_add


def _copy_rows(objs: Sequence[models.Model], fields: list[models.Field], connection):
    """Each object's row as _row_values makes it, with the per-value work done once where it can be.

    Prepared values are memoized per (field, type, value) for immutable scalars; aware datetimes
    and UUIDs pass through (_passes_through); the rest goes through get_db_prep_save per row.
    """
    plan = []
    for field in fields:
        plain = type(field) in _PLAIN_FIELDS
        plan.append((field, field.attname, _simple_pre_save(field), plain, _passes_through(field, connection)))
    memo: dict[tuple, Any] = {}
    for obj in objs:
        state = obj.__dict__
        row = []
        for index, (field, attname, simple, plain, through) in enumerate(plan):
            value = state[attname] if simple and attname in state else field.pre_save(obj, True)
            kind = type(value)
            unchanged = (plain and kind in _PLAIN_VALUES) or (
                kind is through and (kind is not datetime or value.tzinfo is not None)
            )
            if unchanged:
                pass
            elif kind in _MEMO_VALUES or isinstance(value, Enum):
                key = (index, kind, value)
                prepared = memo.get(key, memo)
                if prepared is memo:
                    prepared = memo[key] = field.get_db_prep_save(value, connection)
                value = prepared
            else:
                value = field.get_db_prep_save(value, connection)
            row.append(value)
        yield row


_insert_sql_cache: dict[tuple[type, str], str] = {}


def _insert_sql(meta, connection) -> str:
    key = (meta.model, connection.vendor)
    sql = _insert_sql_cache.get(key)
    if sql is None:
        fields = _insert_fields(meta)
        columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
        placeholders = ", ".join(["%s"] * len(fields))
        table = connection.ops.quote_name(meta.db_table)
        # Identifiers come from the model and are quoted; every value is a parameter.
        sql = _insert_sql_cache[key] = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608
    return sql


def _insert_statement(obj: models.Model, connection) -> tuple[str, list]:
    meta = obj._meta
    return _insert_sql(meta, connection), _row_values(obj, _insert_fields(meta), connection)


# A prepare threshold no statement reaches: psycopg prepares only what is run with prepare=True
# (Django's client-binding cursors never prepare anything).
ONLY_WHEN_ASKED = 2**31


class _PreparingCursor(psycopg.Cursor):
    """psycopg's server-binding cursor, preparing every statement it runs."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)


def execute_prepared(connection, sql: str, params: list) -> None:
    """Run one statement on Django's connection, in its current transaction, as a prepared statement.

    Django's psycopg cursors bind parameters on the client and PostgreSQL plans each statement
    anew (for a task row and its audit row, a fifth of the INSERT's time on this project's VM). A
    server-binding cursor on the same connection prepares it once per connection; Django's
    cursor wrapper around it keeps error translation, query logging and execute wrappers. Off
    with DB_PREPARED_STATEMENTS=false (PgBouncer in transaction mode before 1.21 cannot keep them).
    """
    if not settings.DB_PREPARED_STATEMENTS:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:  # Django's default: psycopg would prepare nothing, even when asked
        raw.prepare_threshold = ONLY_WHEN_ASKED
    wrapper = CursorDebugWrapper if connection.queries_logged else CursorWrapper
    with wrapper(_PreparingCursor(raw), connection) as cursor:
        cursor.execute(sql, params)


def copy_insert(objs: Sequence[models.Model], *, using: str = "default") -> None:
    """INSERT many new rows of one model with COPY ... FROM STDIN, in the caller's transaction.

    COPY streams the rows without a statement to build or parameters to bind: for 10,000 task
    rows it took a quarter of the time of bulk_create (which binds one array per column). The
    primary keys must be set already (no auto field: nothing is read back). A constraint
    violation raises Django's IntegrityError and, as with any failed statement, aborts the
    transaction; run it inside transaction.atomic().
    """
    if not objs:
        return
    meta = objs[0]._meta
    if meta.auto_field is not None:
        raise TypeError(f"copy_insert cannot read back {meta.label}'s auto primary key; use bulk_create.")
    connection = connections[using]
    fields = _insert_fields(meta)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    statement = f"COPY {connection.ops.quote_name(meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
        for row in _copy_rows(objs, fields, connection):
            copy.write_row(row)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using


def insert_together(first: models.Model, second: models.Model, *, using: str = "default") -> None:
    """INSERT two new rows in one statement (a data-modifying WITH): one round trip, atomic by itself.

    Inside transaction.atomic() the same pair costs four (BEGIN, INSERT, INSERT, COMMIT); a single
    enqueue is round-trip bound. Inside a caller's transaction it runs in a savepoint, so a
    unique-key conflict leaves that transaction usable. Model fields' pre_save (auto_now_add) and
    database preparation apply as in save(); the second row's auto primary key is not read back.
    """
    connection = connections[using]
    first_sql, first_params = _insert_statement(first, connection)
    second_sql, second_params = _insert_statement(second, connection)
    savepoint = transaction.atomic(using=using) if connection.in_atomic_block else contextlib.nullcontext()
    with savepoint:
        execute_prepared(connection, f"WITH first AS ({first_sql}) {second_sql}", [*first_params, *second_params])
    for obj in (first, second):
        obj._state.adding = False
        obj._state.db = using


class InstanceFactory:
    """model(**values), the same instance, without Model.__init__'s work per field.

    Model.__init__ walks every field for every instance (a seventh of a 10,000-task bulk
    enqueue). This copies the attributes of one instance built by model() (the defaults),
    calls the callable defaults (a uuid4 id, a dict) afresh for each instance as __init__ does,
    sets the given values, and sets a relation through its descriptor as __init__ does. Names
    that are not a concrete field's name or attname, and a model with pre_init or post_init
    receivers, go to model(**values) itself.
    """

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        self._base: dict | None = None

    def _prepare(self) -> None:
        meta = self.model._meta
        proto = self.model()
        self._fresh = [
            (field.attname, field.get_default)
            for field in meta.concrete_fields
            if field.has_default() and callable(field.default)
        ]
        self._relations = {field.name for field in meta.concrete_fields if field.is_relation}
        self._names = {field.attname for field in meta.concrete_fields if not field.is_relation}
        self._base = {key: value for key, value in proto.__dict__.items() if key != "_state"}

    def __call__(self, **values: Any) -> models.Model:
        model = self.model
        if self._base is None:
            self._prepare()
        if pre_init.has_listeners(model) or post_init.has_listeners(model):
            return model(**values)
        plain = {}
        related = {}
        for name, value in values.items():
            if name in self._names:
                plain[name] = value
            elif name in self._relations:
                related[name] = value
            else:
                return model(**values)
        obj = model.__new__(model)
        state = obj.__dict__
        state.update(self._base)
        for attname, default in self._fresh:
            if attname not in plain:
                state[attname] = default()
        state.update(plain)
        obj._state = ModelState()
        for name, value in related.items():
            setattr(obj, name, value)
        return obj
