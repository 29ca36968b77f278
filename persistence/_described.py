"""The described catalog: what typegen learns from the server about each named query,
and all that _typerender needs to write the typed module (so rendering needs no server).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .queries import Query

__all__ = ["Column", "Described"]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    annotation: str
    nullable: bool
    #: COMMENT ON the table column it comes from, else "".
    comment: str = ""
    #: An UPDATE may set it: not GENERATED ALWAYS (an identity or a computed column).
    settable: bool = True


@dataclass(slots=True)
class Described:
    """A query with the types the server gave for its parameters and columns."""

    query: Query
    params: list[tuple[str, str]] = field(default_factory=list)  # (name, annotation)
    #: Parameters of type json/jsonb: the generated method sends them as Jsonb.
    json_params: set[str] = field(default_factory=set)
    columns: list[Column] = field(default_factory=list)
    imports: set[str] = field(default_factory=set)
    #: The table whose whole row this is (`select *`, `returning *`), with the table's
    #: own nullability, else None: such queries share one row class named after it.
    table: str | None = None
    #: Its schema, or "" when the search_path finds it by its name.
    table_schema: str = ""
    #: COMMENT ON that table, else "".
    table_comment: str = ""
    #: That table's primary key columns, in order.
    table_key: tuple[str, ...] = ()
    #: An INSERT ... VALUES ... RETURNING that always returns its row (no ON CONFLICT DO
    #: NOTHING, no trigger or rule that could drop it): `<!` / `^` return Row, not None.
    always_returns: bool = False
    #: The enum types used, as named aliases: alias -> (labels, COMMENT ON TYPE).
    enums: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)
    #: The row class's name, given by render().
    row_name: str = ""
