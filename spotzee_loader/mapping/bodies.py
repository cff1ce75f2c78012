"""The event JSON of every row of a batch: column-wise with Arrow kernels (``fragments``), or one dict per row
where ``data_json`` objects merge with the mapped properties (the reference the column-wise assembly is tested
against)."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa

from . import convert, fragments
from .spec import Mapping


def _profile_strings(batch: pa.RecordBatch, column: str) -> pa.Array:
    """A ``user`` profile field (email, phone, ...) as strings, empty ones null."""
    return convert.as_strings(convert.plain(batch.column(column)).cast(pa.string()))


def assemble(
    m: Mapping,
    data_props: list[tuple[str, str]],
    batch: pa.RecordBatch,
    names: pa.Array | None,
    ids: dict[str, pa.Array],
    created: pa.Array,
) -> pa.Array:
    """Every row's event JSON, built column-wise by Arrow kernels (see ``fragments``)."""
    n = batch.num_rows
    name = fragments.json_strings(names) if names is not None else [orjson.dumps(m.name).decode()]
    event: fragments.Fragment = ['{"name":', *name]
    for field_ in ("external_id", "anonymous_id"):
        if field_ in ids:
            event += fragments.optional_member(field_, fragments.json_strings(ids[field_]))
    event += [',"created_at":', *fragments.json_strings(created)]
    members = [(prop, fragments.json_column(batch.column(col), m.timezone)) for prop, col in data_props]
    members += [(prop, [orjson.dumps(value).decode()]) for prop, value in m.stamp]
    data = fragments.json_object(members, n)
    event += fragments.optional_member("data", data)
    if m.user or m.user_data:
        traits = fragments.json_object(
            [(t, fragments.json_column(batch.column(c), m.timezone)) for t, c in m.user_data], n
        )
        user_fields = [(f, fragments.json_strings(_profile_strings(batch, c))) for f, c in m.user]
        event += fragments.optional_member("user", fragments.json_object([*user_fields, ("data", traits)], n))
    event.append("}")
    return fragments.concat(event)


def assemble_rows(
    m: Mapping,
    data_props: list[tuple[str, str]],
    batch: pa.RecordBatch,
    names: pa.Array | None,
    ids: dict[str, pa.Array],
    created: pa.Array,
    data_json: list[Any] | None,
) -> pa.Array:
    """Every row's event JSON, one dict per row: for ``data_json`` mappings, whose objects merge
    with the mapped properties row by row (and as the reference the Arrow assembly is tested against)."""
    n = batch.num_rows
    name_values = names.to_pylist() if names is not None else [m.name] * n
    external = ids["external_id"].to_pylist() if "external_id" in ids else None
    anonymous = ids["anonymous_id"].to_pylist() if "anonymous_id" in ids else None
    created_values = created.to_pylist()
    data_cols = [(prop, convert.json_values(batch.column(col), m.timezone)) for prop, col in data_props]
    user_cols = [(f, _profile_strings(batch, c).to_pylist()) for f, c in m.user]
    user_data_cols = [(t, convert.json_values(batch.column(c), m.timezone)) for t, c in m.user_data]
    bodies: list[str] = []
    dumps = orjson.dumps
    for i in range(n):
        event: dict[str, Any] = {"name": name_values[i]}
        if external is not None and external[i] is not None:
            event["external_id"] = external[i]
        if anonymous is not None and anonymous[i] is not None:
            event["anonymous_id"] = anonymous[i]
        event["created_at"] = created_values[i]
        # A null property is left out, from a JSON object as from a column (the README's promise).
        data = {k: v for k, v in data_json[i].items() if v is not None} if data_json and data_json[i] else {}
        for prop, values in data_cols:
            value = values[i]
            if value is not None:
                data[prop] = value
        data.update(m.stamp)  # last: a data_json key of the same name does not hide it
        if data:
            event["data"] = data
        if user_cols or user_data_cols:
            user: dict[str, Any] = {f: v[i] for f, v in user_cols if v[i] is not None}
            traits = {t: v[i] for t, v in user_data_cols if v[i] is not None}
            if traits:
                user["data"] = traits
            if user:
                event["user"] = user
        bodies.append(dumps(event).decode())
    return pa.array(bodies, pa.string())
