"""Many rows in one statement: INSERT and UPDATE fed by arrays (PostgreSQL's unnest).

Django's `bulk_create` and `bulk_update` compile one SQL expression per value
(bulk_update a CASE branch per row), which costs far more Python than the
database spends on the rows. Here each column travels as one array
parameter, so a batch costs a fixed statement whatever its size. On other
databases (SQLite in development) the same calls fall back to Django's own
bulk methods.

The arrays go apart from the statement, in PostgreSQL's binary format
(`_parameter_cursor`): Django binds parameters into the statement's text,
where psycopg quotes every element of every array, a sixth of an enrolment's
time.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime

import psycopg
from django.conf import settings
from django.db import connections, models, router
from django.db.models import DateTimeField, Field, Model
from django.utils import timezone


def insert(objs: list[Model], *, ignore_conflicts: bool = False) -> None:
    """INSERT these unsaved instances of one model (with `ignore_conflicts`, rows whose
    unique keys exist are skipped).

    Like ``bulk_create``, except that primary keys are not set on the instances.
    Fields are filled as bulk_create fills them (``pre_save`` with add=True, so
    auto_now_add and auto_now apply).
    """
    if objs:
        model = type(objs[0])
        fields = _inserted_fields(model)
        rows = [{field.attname: field.pre_save(obj, add=True) for field in fields} for obj in objs]
        insert_rows(model, rows, ignore_conflicts=ignore_conflicts)


def create(objs: list[Model]) -> list[Model]:
    """INSERT these unsaved instances of one model and give each its primary key, as
    ``bulk_create`` does (no ``save()``, no signals), in one statement of arrays.

    The keys (of a model with an auto key) are drawn from the table's sequence
    first, so they are known before the rows are written and each instance gets
    its own whatever order the database writes them in.
    """
    if not objs:
        return objs
    model = type(objs[0])
    connection = _connection(model)
    if connection.vendor != "postgresql" or model._meta.auto_field is None:
        return model.objects.bulk_create(objs)
    pk = model._meta.pk
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, pk.column, len(objs)],
        )
        for obj, (key,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = key
    fields = model._meta.concrete_fields
    rows = [{field.attname: field.pre_save(obj, add=True) for field in fields} for obj in objs]
    _insert(model, fields, rows, connection, ignore_conflicts=False)
    for obj in objs:  # saved: as bulk_create leaves them
        obj._state.adding, obj._state.db = False, connection.alias
    return objs


def insert_rows(model: type[Model], rows: list[dict], *, ignore_conflicts: bool = False) -> None:
    """INSERT rows of `model` given as values by attribute name (`contact_id`), no instance
    built: where a batch's rows are many, building model instances costs more than
    writing them. A field a row leaves out takes its default (auto_now and
    auto_now_add: now). A column with the same value on every row is sent once, not as
    an array.
    """
    if not rows:
        return
    connection = _connection(model)
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**row) for row in rows], ignore_conflicts=ignore_conflicts)
        return
    _insert(model, _inserted_fields(model), rows, connection, ignore_conflicts=ignore_conflicts)


def _insert(model, fields, rows: list[dict], connection, *, ignore_conflicts: bool) -> None:
    quote = connection.ops.quote_name
    now = timezone.now()
    names, selected, arrays, constants, varying = [], [], [], [], []
    for number, field in enumerate(fields):
        names.append(quote(field.column))
        default = _default(field, now)
        values = [row.get(field.attname, default) for row in rows]
        if arrays and _all_same(values):  # one array at least: it sets the number of rows
            selected.append(f"%b::{_column_type(field, connection)}")
            constants.append(field.get_db_prep_save(values[0], connection))
        else:
            selected.append(f"new.c{number}")
            arrays.append((f"c{number}", f"%b::{_column_type(field, connection)}[]"))
            varying.append(_db_values(field, values, connection))
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(names)}) "
        f"SELECT {', '.join(selected)} "
        f"FROM unnest({', '.join(array for _, array in arrays)}) "
        f"AS new({', '.join(alias for alias, _ in arrays)})"
        + (" ON CONFLICT DO NOTHING" if ignore_conflicts else "")
    )
    with _parameter_cursor(connection) as cursor:
        cursor.execute(sql, constants + varying)


def _inserted_fields(model: type[Model]) -> list[Field]:
    return [field for field in model._meta.concrete_fields if field is not model._meta.auto_field]


def _default(field: Field, now):
    """What an unset field is inserted as, as `pre_save` with add=True would fill it."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return now if isinstance(field, DateTimeField) else date.today()
    return field.get_default()


def _all_same(values: list) -> bool:
    first = values[0]
    return all(
        value is first or (type(value) is type(first) and value == first) for value in values
    )


def update(
    objs: list[Model], fields: list[str], *, match: Sequence[str] = (), where: dict | None = None
) -> list:
    """Write `fields` of these saved instances of one model, each row its own values;
    returns the primary keys of the rows written.

    Like ``bulk_update`` (no ``save()``, no signals, auto_now not applied). A
    row is written only if its stored `match` fields still equal the
    instance's and its stored `where` fields equal the values given (a guard:
    a row that changed hands meanwhile is left alone).
    """
    if not objs:
        return []
    model = type(objs[0])
    where = where or {}
    connection = _connection(model)
    if connection.vendor != "postgresql":
        return _update_each(objs, fields, match, where)
    attnames = {name: model._meta.get_field(name).attname for name in [*fields, *match]}
    rows = [{"pk": obj.pk} | {n: getattr(obj, a) for n, a in attnames.items()} for obj in objs]
    return _update(model, rows, fields, match, where, connection)


def update_rows(model: type[Model], rows: list[dict], fields: list[str]) -> list:
    """`update` for rows held as values by attribute name (`{"pk": 7, "next_due_at": ...}`),
    no instance built: where a batch's rows are many, loading them as models costs more
    than the rest of the batch."""
    if not rows:
        return []
    connection = _connection(model)
    if connection.vendor != "postgresql":
        return update([model(**row) for row in rows], fields)
    return _update(model, rows, fields, (), {}, connection)


def _update(model, rows: list[dict], fields, match, where: dict, connection) -> list:
    pk = model._meta.pk
    names = [*fields, *match]
    columns = [model._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    assignments = ", ".join(
        f"{quote(field.column)} = new.c{n}" for n, field in enumerate(columns[: len(fields)])
    )
    guards = [
        f"row.{quote(field.column)} = new.c{n}"
        for n, field in enumerate(columns)
        if n >= len(fields)
    ]
    constants = [(model._meta.get_field(name), value) for name, value in where.items()]
    guards += [f"row.{quote(field.column)} = %b" for field, _ in constants]
    arrays = ", ".join(f"%b::{_column_type(field, connection)}[]" for field in [pk, *columns])
    aliases = ", ".join(f"c{n}" for n in range(len(columns)))
    sql = (
        f"UPDATE {quote(model._meta.db_table)} AS row SET {assignments} "
        f"FROM unnest({arrays}) AS new(id, {aliases}) "
        f"WHERE {' AND '.join([f'row.{quote(pk.column)} = new.id', *guards])} "
        f"RETURNING row.{quote(pk.column)}"
    )
    params = [[row["pk"] for row in rows]] + [
        _db_values(field, [row[name] for row in rows], connection)
        for name, field in zip(names, columns, strict=True)
    ]
    params += [field.get_db_prep_save(value, connection) for field, value in constants]
    with _parameter_cursor(connection) as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _update_each(objs: list[Model], fields: list[str], match: Sequence[str], where: dict) -> list:
    """`update` on databases without arrays: Django's bulk_update, or a guarded UPDATE a row."""
    model = type(objs[0])
    if not match and not where:
        model.objects.bulk_update(objs, fields)
        return [obj.pk for obj in objs]
    written = []
    for obj in objs:
        guard = {name: getattr(obj, name) for name in match} | where
        values = {name: getattr(obj, name) for name in fields}
        if model.objects.filter(pk=obj.pk, **guard).update(**values):
            written.append(obj.pk)
    return written


# Fields (these classes exactly, not subclasses) whose `get_db_prep_save` hands a value
# of this type to PostgreSQL unchanged.
_UNCHANGED = {
    models.AutoField: int,
    models.BigAutoField: int,
    models.SmallIntegerField: int,
    models.IntegerField: int,
    models.BigIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.CharField: str,
    models.TextField: str,
    models.BooleanField: bool,
    models.DateField: date,
}


def _db_values(field: Field, values: list, connection) -> list:
    """`values` of one column as the database takes them (`get_db_prep_save`).

    The call is skipped for a value it would hand on unchanged (an int for an
    integer field or a key, a str for a text field, an aware datetime): a
    batch calls it for every value of every varying column, and those calls
    cost more Python than the rest of building the batch.
    """
    target = field.target_field if field.is_relation else field
    unchanged = _UNCHANGED.get(type(target))
    if unchanged is None and type(target) is DateTimeField and settings.USE_TZ:
        unchanged = datetime
    if unchanged is None:
        return [field.get_db_prep_save(value, connection) for value in values]
    return [
        value
        if value is None
        or (type(value) is unchanged and (unchanged is not datetime or value.tzinfo is not None))
        else field.get_db_prep_save(value, connection)
        for value in values
    ]


def _column_type(field, connection) -> str:
    """The column's type; a serial primary key is referred to as its integer."""
    return (field.rel_db_type if field.primary_key else field.db_type)(connection)


class _BindingCursor(psycopg.Cursor):
    """psycopg's cursor that binds parameters on the server, never preparing a statement:
    a pooler in transaction mode (PgBouncer) may hand the next statement to another
    session, which would not know it."""

    def execute(self, query, params=None, **options):
        return super().execute(query, params, **options, prepare=False)


@contextmanager
def _parameter_cursor(connection) -> Iterator:
    """A cursor whose `%b` parameters travel apart from the statement, in binary, wrapped
    as Django wraps its own (query logging, `execute_wrapper`)."""
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = _BindingCursor(connection.connection)
    wrap = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    with wrap(raw) as cursor:
        yield cursor


def _connection(model: type[Model]):
    return connections[router.db_for_write(model)]
