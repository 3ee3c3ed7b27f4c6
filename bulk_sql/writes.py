"""Many rows in one statement: INSERT and UPDATE fed by arrays (PostgreSQL's unnest).

Django's `bulk_create` and `bulk_update` compile one SQL expression per value
(bulk_update a CASE branch per row), which costs far more Python than the
database spends on the rows. Here each column travels as one array
parameter, so a batch costs a fixed statement whatever its size. On other
databases (SQLite in development) the same calls fall back to Django's own
bulk methods.
"""

from collections import defaultdict
from collections.abc import Mapping

from django.db import connections, router
from django.db.models import Model


def insert_ignoring_conflicts(objs: list[Model]) -> None:
    """INSERT these unsaved instances of one model; rows whose unique keys exist are skipped.

    Like ``bulk_create(objs, ignore_conflicts=True)``: primary keys are not set
    on the instances. Fields are filled as bulk_create fills them (``pre_save``
    with add=True, so auto_now_add and auto_now apply). A column with the same
    value on every row is sent once, not as an array.
    """
    if not objs:
        return
    model = type(objs[0])
    connection = _connection(model)
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, ignore_conflicts=True)
        return
    quote = connection.ops.quote_name
    names, selected, arrays, constants, varying = [], [], [], [], []
    for number, field in enumerate(model._meta.concrete_fields):
        if field is model._meta.auto_field:
            continue
        names.append(quote(field.column))
        values = [field.pre_save(obj, add=True) for obj in objs]
        if arrays and _all_same(values):  # one array at least: it sets the number of rows
            selected.append(f"%s::{_column_type(field, connection)}")
            constants.append(field.get_db_prep_save(values[0], connection))
        else:
            selected.append(f"new.c{number}")
            arrays.append((f"c{number}", f"%s::{_column_type(field, connection)}[]"))
            varying.append([field.get_db_prep_save(value, connection) for value in values])
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(names)}) "
        f"SELECT {', '.join(selected)} "
        f"FROM unnest({', '.join(array for _, array in arrays)}) "
        f"AS new({', '.join(alias for alias, _ in arrays)}) ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, constants + varying)


def _all_same(values: list) -> bool:
    first = values[0]
    return all(
        value is first or (type(value) is type(first) and value == first) for value in values
    )


def update_column(model: type[Model], field_name: str, values: Mapping) -> None:
    """Set `field_name` of each row (by primary key) to its value in `values`."""
    if not values:
        return
    connection = _connection(model)
    field = model._meta.get_field(field_name)
    if connection.vendor != "postgresql":
        _update_by_value(model, field_name, values)
        return
    pk = model._meta.pk
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(model._meta.db_table)} AS row SET {quote(field.column)} = new.value "
        f"FROM unnest(%s::{_column_type(pk, connection)}[], "
        f"%s::{_column_type(field, connection)}[]) "
        f"AS new(id, value) WHERE row.{quote(pk.column)} = new.id"
    )
    prepared = [field.get_db_prep_save(value, connection) for value in values.values()]
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(values.keys()), prepared])


def _update_by_value(model: type[Model], field_name: str, values: Mapping) -> None:
    ids_by_value: dict = defaultdict(list)
    for pk, value in values.items():
        ids_by_value[value].append(pk)
    for value, ids in ids_by_value.items():
        model.objects.filter(pk__in=ids).update(**{field_name: value})


def _column_type(field, connection) -> str:
    """The column's type; a serial primary key is referred to as its integer."""
    return (field.rel_db_type if field.primary_key else field.db_type)(connection)


def _connection(model: type[Model]):
    return connections[router.db_for_write(model)]
