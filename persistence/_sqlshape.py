"""What a statement's parse tree says for the generated types (pglast: the server's parser).

- which tables sit on the nullable side of an outer join;
- which table column each insert/update parameter is written to;
- for each result column computed from an expression, whether it can be NULL: `count(*)`,
  `exists (...)`, `coalesce(a, 0)`, literals, `now()` never are; an operator, a CASE or a
  plain function over values that are never NULL is never NULL either;
- whether an INSERT ... RETURNING always returns its row.

The rules are deliberately conservative: whatever they do not know is nullable, so a
generated type may be looser than the truth, never wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pglast
from pglast import ast
from pglast.enums import (
    A_Expr_Kind,
    JoinType,
    OnConflictAction,
    SetOperation,
    SubLinkType,
)
from psycopg import sql

__all__ = ["Scope", "Shape", "never_null", "shape"]

# Never NULL, whatever their arguments.
_ALWAYS = frozenset(
    {
        "count", "row_number", "rank", "dense_rank", "percent_rank", "cume_dist",
        "now", "clock_timestamp", "statement_timestamp", "transaction_timestamp",
        "timeofday", "concat", "gen_random_uuid", "random", "pg_backend_pid",
        "current_database", "version", "json_build_object", "jsonb_build_object",
        "json_build_array", "jsonb_build_array", "grouping",
    }
)  # fmt: skip
# NULL only when an argument is NULL (strict, and never NULL for other input). Not
# extract/date_part: some fields of an infinite timestamp are NULL.
_STRICT = frozenset(
    {
        "lower", "upper", "initcap", "length", "char_length", "octet_length", "btrim",
        "ltrim", "rtrim", "trim", "left", "right", "substr", "replace",
        "lpad", "rpad", "repeat", "reverse", "split_part", "strpos", "position",
        "starts_with", "md5", "sha256", "encode", "decode", "to_char", "format",
        "concat_ws", "abs", "round", "trunc", "floor", "ceil", "ceiling", "mod", "power",
        "sqrt", "sign", "date_trunc", "age", "timezone",
        "make_interval", "cardinality", "array_to_string", "string_to_array",
        "to_json", "to_jsonb", "to_tsvector", "quote_ident", "quote_literal", "hashtext",
        "int4", "int8", "numeric", "float8", "text",
    }
)  # fmt: skip
# Operators that can return NULL for non-NULL operands: a missing JSON key or path.
_NULLABLE_OPERATORS = frozenset({"->", "->>", "#>", "#>>"})


@dataclass(slots=True)
class Scope:
    """The relations a SELECT (or RETURNING) reads columns from: alias -> table name as
    written (quoted, for to_regclass), or None for a subquery or function; and the
    aliases on the nullable side of an outer join."""

    relations: dict[str, str | None] = field(default_factory=dict)
    nullable: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Shape:
    """What the parse tree says, for one statement."""

    nullable_tables: frozenset[str]
    targets: dict[int, tuple[str, str]]  # $n -> (table as written, column)
    #: Per branch of a UNION (one for a plain statement), its output expressions and
    #: its scope; an output is None where a `*` makes positions unknowable.
    branches: tuple[tuple[tuple[Any, ...], Scope], ...] = ()
    #: INSERT ... VALUES ... RETURNING without ON CONFLICT DO NOTHING or a WHERE: the
    #: table it inserts into (its triggers may still drop the row); else None.
    always_inserts: str | None = None

    def outputs(self, i: int, count: int) -> list[tuple[Any, Scope]] | None:
        """The expression of output column `i` (of `count`) in each branch, or None."""
        found = []
        for targets, scope in self.branches:
            node = _nth(targets, i, count)
            if node is None:
                return None
            found.append((node, scope))
        return found or None


def shape(text: str) -> Shape:
    """The shape of statement `text` (with $n parameters); empty if it does not parse."""
    try:
        (raw,) = pglast.parse_sql(text)
    except (pglast.parser.ParseError, ValueError):
        return Shape(frozenset(), {})
    stmt: Any = raw.stmt
    nullable: set[str] = set()
    targets: dict[int, tuple[str, str]] = {}

    def written(table: str, column: Any, value: Any) -> None:
        if isinstance(value, ast.ParamRef) and value.number is not None:
            targets[value.number] = (table, str(column))

    node: Any  # pglast's nodes type every attribute as optional
    for node in walk(stmt):
        if isinstance(node, ast.JoinExpr):
            if node.jointype in (JoinType.JOIN_LEFT, JoinType.JOIN_FULL):
                nullable |= {name(n) for n in walk(node.rarg) if isinstance(n, ast.RangeVar)}
            if node.jointype in (JoinType.JOIN_RIGHT, JoinType.JOIN_FULL):
                nullable |= {name(n) for n in walk(node.larg) if isinstance(n, ast.RangeVar)}
        elif isinstance(node, ast.InsertStmt) and node.relation is not None:
            table = name(node.relation)
            select: Any = node.selectStmt
            for values in (select.valuesLists or ()) if select is not None else ():
                for col, value in zip(node.cols or (), values, strict=False):
                    written(table, col.name, value)
            conflict: Any = node.onConflictClause
            for target in (conflict.targetList or ()) if conflict is not None else ():
                written(table, target.name, target.val)
        elif isinstance(node, ast.UpdateStmt) and node.relation is not None:
            table = name(node.relation)
            for target in node.targetList or ():
                written(table, target.name, target.val)
    return Shape(frozenset(nullable), targets, _branches(stmt), _always_inserts(stmt))


def never_null(
    node: Any, scope: Scope, column: Callable[[str, str], bool | None], params: frozenset[int]
) -> bool:
    """Whether expression `node` can never be NULL.

    `column(table, name)` says whether a table's column is NOT NULL (None: no such
    column); `params` are the numbers of the parameters whose generated type does not
    accept None (a caller that type-checks cannot pass NULL for them).
    """

    def nn(n: Any) -> bool:
        return never_null(n, scope, column, params)

    match node:
        case ast.A_Const():
            return not node.isnull
        case ast.TypeCast() | ast.CollateClause():
            return nn(node.arg)
        case ast.ColumnRef():
            return _column_not_null(node, scope, column)
        case ast.ParamRef():
            return node.number in params
        case ast.SQLValueFunction() | ast.NullTest() | ast.BooleanTest():
            return True
        case ast.A_ArrayExpr() | ast.RowExpr() | ast.GroupingFunc():
            return True
        case ast.CoalesceExpr() | ast.MinMaxExpr():
            return any(nn(a) for a in node.args or ())
        case ast.BoolExpr():
            return all(nn(a) for a in node.args or ())
        case ast.CaseExpr():
            results = [w.result for w in node.args or ()]
            return node.defresult is not None and all(nn(r) for r in [*results, node.defresult])
        case ast.SubLink():
            return node.subLinkType in (SubLinkType.EXISTS_SUBLINK, SubLinkType.ARRAY_SUBLINK)
        case ast.A_Expr():
            return _operator_not_null(node, nn)
        case ast.FuncCall():
            fname = str(node.funcname[-1].sval).lower() if node.funcname else ""
            if fname in _ALWAYS:
                return True
            window = node.over is not None
            return (
                fname in _STRICT
                and not window
                and not node.agg_star
                and all(nn(a) for a in node.args or ())
            )
    return False


def _operator_not_null(node: ast.A_Expr, nn: Callable[[Any], bool]) -> bool:
    kind = node.kind
    if kind in (A_Expr_Kind.AEXPR_DISTINCT, A_Expr_Kind.AEXPR_NOT_DISTINCT):
        return True
    names = [str(getattr(n, "sval", "")) for n in node.name or ()]
    operands = [node.lexpr, *(node.rexpr if isinstance(node.rexpr, tuple) else [node.rexpr])]
    operands = [o for o in operands if o is not None]
    if kind == A_Expr_Kind.AEXPR_OP and names and names[-1] in _NULLABLE_OPERATORS:
        return False
    if kind in (
        A_Expr_Kind.AEXPR_OP,
        A_Expr_Kind.AEXPR_IN,
        A_Expr_Kind.AEXPR_LIKE,
        A_Expr_Kind.AEXPR_ILIKE,
        A_Expr_Kind.AEXPR_SIMILAR,
        A_Expr_Kind.AEXPR_BETWEEN,
        A_Expr_Kind.AEXPR_NOT_BETWEEN,
        A_Expr_Kind.AEXPR_BETWEEN_SYM,
        A_Expr_Kind.AEXPR_NOT_BETWEEN_SYM,
    ):
        return all(nn(o) for o in operands)
    return False  # NULLIF, = ANY (an array may hold NULLs), ...


def _column_not_null(
    ref: ast.ColumnRef, scope: Scope, column: Callable[[str, str], bool | None]
) -> bool:
    parts = [getattr(f, "sval", None) for f in ref.fields or ()]
    if not 1 <= len(parts) <= 2 or None in parts:
        return False  # t.*, a subscript, schema.table.column
    col = str(parts[-1])
    if len(parts) == 2:
        alias = str(parts[0])
        table = scope.relations.get(alias)
        return table is not None and column(table, col) is True and alias not in scope.nullable
    # Unqualified: exactly one relation has it, and none is a subquery we cannot see into.
    if any(table is None for table in scope.relations.values()):
        return False
    hits = [
        (alias, not_null)
        for alias, table in scope.relations.items()
        if table is not None and (not_null := column(table, col)) is not None
    ]
    return len(hits) == 1 and hits[0][1] is True and hits[0][0] not in scope.nullable


def _returning(stmt: Any) -> tuple[Any, ...]:
    clause = getattr(stmt, "returningClause", None)
    return tuple(clause.exprs or ()) if clause is not None else ()


def _branches(stmt: Any) -> tuple[tuple[tuple[Any, ...], Scope], ...]:
    node: Any = stmt  # pglast's nodes type every attribute as optional
    if isinstance(stmt, ast.SelectStmt):
        if node.op not in (None, SetOperation.SETOP_NONE):
            return _branches(node.larg) + _branches(node.rarg)
        if node.valuesLists:
            return ()
        targets = tuple(_output(t.val) for t in node.targetList or ())
        with_clause: Any = node.withClause
        ctes = {str(c.ctename) for c in (with_clause.ctes or ())} if with_clause else set()
        return ((targets, _scope(node.fromClause or (), ctes)),)
    returning = _returning(stmt)
    if not returning:
        return ()
    extra = getattr(stmt, "fromClause", None) or getattr(stmt, "usingClause", None) or ()
    scope = _scope((node.relation, *extra))
    return ((tuple(_output(t.val) for t in returning), scope),)


def _output(node: Any) -> Any:
    """The expression, or None for a star (it stands for an unknown number of columns)."""
    if isinstance(node, ast.ColumnRef) and any(
        isinstance(f, ast.A_Star) for f in node.fields or ()
    ):
        return None
    return node


def _nth(targets: tuple[Any, ...], i: int, count: int) -> Any:
    stars = [k for k, t in enumerate(targets) if t is None]
    if not stars:
        return targets[i] if len(targets) == count and i < count else None
    if i < stars[0]:
        return targets[i]
    from_end = count - i
    if from_end <= len(targets) - 1 - stars[-1]:
        return targets[len(targets) - from_end]
    return None


def _scope(items: Any, ctes: set[str] | frozenset[str] = frozenset()) -> Scope:
    scope = Scope()

    def add(item: Any, nullable: bool) -> None:
        if isinstance(item, ast.RangeVar):
            alias = item.alias.aliasname if item.alias is not None else item.relname
            cte = item.schemaname is None and item.relname in ctes
            # A CTE hides a table of the same name: we cannot see into it.
            scope.relations[str(alias)] = None if cte else name(item)
            if nullable:
                scope.nullable.add(str(alias))
        elif isinstance(item, ast.JoinExpr):
            jt = item.jointype
            add(item.larg, nullable or jt in (JoinType.JOIN_RIGHT, JoinType.JOIN_FULL))
            add(item.rarg, nullable or jt in (JoinType.JOIN_LEFT, JoinType.JOIN_FULL))
        elif getattr(item, "alias", None) is not None:
            scope.relations[str(item.alias.aliasname)] = None  # subquery, function...

    for item in items:
        add(item, False)
    return scope


def _always_inserts(stmt: Any) -> str | None:
    if not isinstance(stmt, ast.InsertStmt) or not _returning(stmt):
        return None
    select: Any = stmt.selectStmt
    if select is None or not select.valuesLists:
        return None  # INSERT ... SELECT may select no row
    conflict: Any = stmt.onConflictClause
    if conflict is not None and (
        conflict.action == OnConflictAction.ONCONFLICT_NOTHING or conflict.whereClause
    ):
        return None
    relation: Any = stmt.relation
    return name(relation)


def walk(node: Any) -> Iterator[Any]:
    """Every node under `node`, depth first."""
    if isinstance(node, tuple | list):
        for item in node:
            yield from walk(item)
    elif isinstance(node, ast.Node):
        yield node
        for attr in getattr(type(node), "__slots__", ()):
            yield from walk(getattr(node, attr, None))


def name(rv: ast.RangeVar) -> str:
    """The relation as a quoted name for to_regclass (the parser already folded case)."""
    parts = [p for p in (rv.schemaname, rv.relname) if p]
    return sql.Identifier(*parts).as_string(None)
