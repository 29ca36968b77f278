"""What a statement's parse tree says for the generated types (pglast: the server's parser).

- which tables sit on the nullable side of an outer join (through a CTE too: `left join
  v`, `with v as (select ... from t)`, puts t there);
- which result columns a ROLLUP, CUBE or GROUPING SETS may set to NULL (in the rows of a
  grouping set that does not group by them);
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
    CoercionForm,
    GroupingSetKind,
    JoinType,
    OnConflictAction,
    SetOperation,
    SubLinkType,
)
from pglast.stream import RawStream
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
    #: ROLLUP, CUBE, GROUPING SETS: the grouping expressions some grouping set leaves out
    #: (its rows hold NULL for them), deparsed, and the names of the columns they read.
    grouped: frozenset[str] = frozenset()
    grouped_columns: frozenset[str] = frozenset()


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

    def grouping_nulls(self, i: int, count: int) -> bool:
        """Whether a grouping set may set output column `i` to NULL: it reads a grouping
        expression that some grouping set leaves out (or a `*` hides what it reads)."""
        for targets, scope in self.branches:
            if scope.grouped or scope.grouped_columns:
                node = _nth(targets, i, count)
                if node is None or _regrouped(node, scope):
                    return True
        return False


def shape(text: str) -> Shape:
    """The shape of statement `text` (with $n parameters); empty if it does not parse."""
    try:
        (raw,) = pglast.parse_sql(text)
    except (pglast.parser.ParseError, ValueError):
        return Shape(frozenset(), {})
    stmt: Any = raw.stmt
    ctes = _ctes(stmt)
    nullable: set[str] = set()
    targets: dict[int, tuple[str, str]] = {}

    def written(table: str, column: Any, value: Any) -> None:
        if isinstance(value, ast.ParamRef) and value.number is not None:
            targets[value.number] = (table, str(column))

    node: Any  # pglast's nodes type every attribute as optional
    for node in walk(stmt):
        if isinstance(node, ast.JoinExpr):
            if node.jointype in (JoinType.JOIN_LEFT, JoinType.JOIN_FULL):
                nullable |= _tables(node.rarg, ctes)
            if node.jointype in (JoinType.JOIN_RIGHT, JoinType.JOIN_FULL):
                nullable |= _tables(node.larg, ctes)
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
    # A grouping set below the top (a subquery, a CTE): the server still names the
    # table column as the source of what it may have set to NULL. An INSERT's RETURNING
    # reads the table's row, not its SELECT.
    top = {id(s) for s in _selects(stmt)}
    if not isinstance(stmt, ast.InsertStmt) and any(
        isinstance(n, ast.SelectStmt) and id(n) not in top and any(_grouping(n)) for n in walk(stmt)
    ):
        nullable |= _tables(stmt, ctes)
    return Shape(frozenset(nullable), targets, _branches(stmt, ctes), _always_inserts(stmt))


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

    if scope.grouped and _key(node) in scope.grouped:
        return False  # the rows of a grouping set that leaves it out hold NULL
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
    if col in scope.grouped_columns:
        return False  # a grouping set may leave it out
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


def _selects(stmt: Any) -> list[Any]:
    """The SELECTs whose rows a statement returns: one per branch of a UNION."""
    node: Any = stmt
    if not isinstance(stmt, ast.SelectStmt):
        return []
    if node.op not in (None, SetOperation.SETOP_NONE):
        return _selects(node.larg) + _selects(node.rarg)
    return [stmt]


def _branches(stmt: Any, ctes: dict[str, list[Any]]) -> tuple[tuple[tuple[Any, ...], Scope], ...]:
    node: Any = stmt  # pglast's nodes type every attribute as optional
    if isinstance(stmt, ast.SelectStmt):
        branches = []
        for select in _selects(stmt):
            if select.valuesLists:
                return ()  # VALUES (...): not read here, so every branch is unknown
            targets = tuple(_output(t.val) for t in select.targetList or ())
            scope = _scope(select.fromClause or (), frozenset(ctes))
            scope.grouped, scope.grouped_columns = _grouping(select)
            branches.append((targets, scope))
        return tuple(branches)
    returning = _returning(stmt)
    if not returning:
        return ()
    extra = getattr(stmt, "fromClause", None) or getattr(stmt, "usingClause", None) or ()
    scope = _scope((node.relation, *extra), frozenset(ctes))
    return ((tuple(_output(t.val) for t in returning), scope),)


def _ctes(stmt: Any) -> dict[str, list[Any]]:
    """The statement's CTEs, wherever defined: name -> their queries (a name may be
    defined at two levels; both count)."""
    found: dict[str, list[Any]] = {}
    for node in walk(stmt):
        if isinstance(node, ast.CommonTableExpr):
            found.setdefault(str(node.ctename), []).append(node.ctequery)
    return found


def _tables(node: Any, ctes: dict[str, list[Any]]) -> set[str]:
    """The tables read under `node`, and those read by the CTEs it reads (and theirs)."""
    found: set[str] = set()
    todo, seen = [node], set()
    while todo:
        for rv in walk(todo.pop()):
            if not isinstance(rv, ast.RangeVar):
                continue
            found.add(name(rv))
            cte = str(rv.relname)
            if rv.schemaname is None and cte in ctes and cte not in seen:
                seen.add(cte)  # a recursive CTE reads itself
                todo.extend(ctes[cte])
    return found


def _grouping(select: Any) -> tuple[frozenset[str], frozenset[str]]:
    """What ROLLUP, CUBE or GROUPING SETS in `select`'s GROUP BY may set to NULL: the
    grouping expressions some grouping set leaves out, deparsed, and the names of the
    columns they read. A GROUP BY position or output name stands for that output's
    expression (and, as it may also name an input column, for itself)."""
    items = select.groupClause or ()
    if not any(isinstance(item, ast.GroupingSet) for item in items):
        return frozenset(), frozenset()
    always = set().union(*(_in_every_set(item) for item in items))
    outputs = [t for t in select.targetList or () if isinstance(t, ast.ResTarget)]
    keys: set[str] = set()
    columns: set[str] = set()
    leaf: Any  # pglast's nodes type every attribute as optional
    for leaf in _leaves(items):
        if _key(leaf) in always:
            continue
        meanings = [leaf]
        value: Any = leaf.val if isinstance(leaf, ast.A_Const) else None
        position: Any = value.ival if isinstance(value, ast.Integer) else None
        if isinstance(position, int) and 1 <= position <= len(outputs):
            meanings = [outputs[position - 1].val]
        elif isinstance(leaf, ast.ColumnRef) and len(leaf.fields or ()) == 1:
            alias = _column_name(leaf)
            meanings += [t.val for t in outputs if alias is not None and t.name == alias]
        for expr in meanings:
            keys.add(_key(expr))
            columns |= {c for ref in walk(expr) if (c := _column_name(ref)) is not None}
    return frozenset(keys), frozenset(columns)


def _in_every_set(item: Any) -> set[str]:
    """The grouping expressions (deparsed) present in every grouping set of `item`."""
    if isinstance(item, ast.GroupingSet):
        content = item.content or ()
        if item.kind == GroupingSetKind.GROUPING_SET_SIMPLE:
            return set().union(*(_in_every_set(c) for c in content))
        if item.kind == GroupingSetKind.GROUPING_SET_SETS and content:
            return set.intersection(*(_in_every_set(c) for c in content))
        return set()  # (), and ROLLUP and CUBE: each has the empty grouping set
    if _sublist(item):
        return set().union(*(_in_every_set(a) for a in item.args or ()))
    return {_key(item)}


def _leaves(items: Any) -> Iterator[Any]:
    """The grouping expressions of a GROUP BY, out of their sets and sublists."""
    for item in items:
        if isinstance(item, ast.GroupingSet):
            yield from _leaves(item.content or ())
        elif _sublist(item):
            yield from _leaves(item.args or ())
        else:
            yield item


def _sublist(node: Any) -> bool:
    """`(a, b)` in a GROUP BY: a list of grouping expressions, not a row."""
    return isinstance(node, ast.RowExpr) and node.row_format == CoercionForm.COERCE_IMPLICIT_CAST


def _key(node: Any) -> str:
    """An expression as SQL, to compare grouping expressions with outputs."""
    try:
        return str(RawStream()(node))
    except Exception:  # a node the deparser does not know: it matches nothing
        return f"<{id(node)}>"


def _regrouped(node: Any, scope: Scope) -> bool:
    """Whether expression `node` is or reads a grouping expression a grouping set may
    set to NULL."""
    return _key(node) in scope.grouped or any(
        _column_name(ref) in scope.grouped_columns for ref in walk(node)
    )


def _column_name(node: Any) -> str | None:
    """The column a ColumnRef names (`c` of `t.c`), or None (not one, or `t.*`)."""
    if not isinstance(node, ast.ColumnRef) or not node.fields:
        return None
    last: Any = node.fields[-1]
    return str(last.sval) if isinstance(last, ast.String) else None


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
