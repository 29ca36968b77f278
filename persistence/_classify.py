"""Whether running a statement twice can change data, read from its parse tree.

A statement whose connection died mid-flight may have run on the server. Running it
again is harmless only if it cannot write, so the retry decision comes from the SQL,
parsed with PostgreSQL's own parser (pglast), never from which method sent it.

A statement is a *read* when it is one SELECT / VALUES / TABLE / SHOW (or an EXPLAIN of
one) with no data-modifying CTE, no ``SELECT INTO``, and no call to a
function that may write. Any function that is not a known read-only built-in counts as
a possible write: ``select nextval('s')`` or ``select my_audit_fn()`` is not retried.
Anything that does not parse is not a read.

Only the server knows which functions exist: a function of yours named ``log`` shadows
the built-in, and ``t.f`` (attribute notation) calls ``f(t)``. So the caller passes
`writers`, the names the server says may write (`WRITERS`, read when the database opens):
a call to one, a column reference or field selection naming one, an operator, a relation
(a view, a table whose policy calls one) or a type (a domain, a cast's target) named like
one make the statement a write. Names are compared as the parser gives them: unquoted ones are
lower-cased, quoted ones keep their case (``"Lower"`` is not ``lower``).

>>> is_read("select * from users where id = %s")
True
>>> is_read("insert into t values (1) returning id")
False
>>> is_read("with x as (delete from t returning *) select * from x")
False
>>> is_read("select nextval('t_id_seq')")
False
>>> is_read("select log(%s::text)"), is_read("select log(%s::text)", frozenset({"log"}))
(True, False)
"""

from __future__ import annotations

import re
from functools import lru_cache

import psycopg
from pglast import ast, parse_sql
from pglast.parser import ParseError
from pglast.visitors import Visitor
from psycopg import sql

__all__ = ["WRITERS", "changes_session", "changes_session_query", "is_read", "is_read_query"]

# psycopg's placeholders (%s, %b, %t, %(name)s) and its escaped percent (%%): the parser
# wants $n and a single %. The same pattern psycopg uses, so what it binds we replace.
_PLACEHOLDER = re.compile(rb"%(?:\([^)]*\))?[sbt%]")

#: Built-in functions that never write, by name (pg_catalog's, called unqualified or
#: as pg_catalog.x). Stable and immutable ones plus harmless volatile ones (random,
#: clock_timestamp, gen_random_uuid); never nextval, setval, set_config, pg_advisory_*,
#: lo_*, pg_terminate_backend or dblink-like calls.
READ_ONLY_FUNCTIONS = frozenset(
    """
    count sum avg min max bool_and bool_or every array_agg string_agg json_agg jsonb_agg
    json_object_agg jsonb_object_agg stddev stddev_pop stddev_samp variance var_pop var_samp
    percentile_cont percentile_disc mode corr covar_pop covar_samp regr_slope bit_and bit_or
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value
    nth_value
    abs ceil ceiling floor round trunc sign sqrt cbrt power pow exp ln log log10 mod div
    greatest least random pi degrees radians sin cos tan asin acos atan atan2 width_bucket
    gcd lcm factorial scale to_number numeric int2 int4 int8 float4 float8
    length char_length character_length octet_length bit_length lower upper initcap
    trim btrim ltrim rtrim lpad rpad substr substring left right position strpos replace
    translate reverse repeat split_part concat concat_ws format md5 sha224 sha256 sha384
    sha512 encode decode ascii chr quote_ident quote_literal quote_nullable regexp_match
    regexp_matches regexp_replace regexp_split_to_array regexp_split_to_table regexp_like
    regexp_count regexp_substr regexp_instr starts_with to_char to_hex unaccent
    string_to_array string_to_table array_to_string normalize casefold
    now current_date current_time current_timestamp localtime localtimestamp
    clock_timestamp statement_timestamp transaction_timestamp timeofday date_part
    date_trunc date_bin extract age make_date make_time make_timestamp make_timestamptz
    make_interval justify_days justify_hours justify_interval to_date to_timestamp isfinite
    timezone
    array_length array_lower array_upper array_dims array_ndims array_position
    array_positions array_remove array_replace array_append array_prepend array_cat
    array_fill cardinality unnest generate_series generate_subscripts trim_array
    array_sample array_shuffle
    to_json to_jsonb row_to_json array_to_json json_build_object jsonb_build_object
    json_build_array jsonb_build_array json_object jsonb_object json_array_length
    jsonb_array_length json_each jsonb_each json_each_text jsonb_each_text
    json_array_elements jsonb_array_elements json_array_elements_text
    jsonb_array_elements_text json_extract_path jsonb_extract_path json_extract_path_text
    jsonb_extract_path_text json_object_keys jsonb_object_keys json_typeof jsonb_typeof
    json_strip_nulls jsonb_strip_nulls jsonb_set jsonb_insert jsonb_pretty
    jsonb_path_query jsonb_path_query_array jsonb_path_query_first jsonb_path_exists
    jsonb_path_match json_populate_record jsonb_populate_record json_to_record
    jsonb_to_record json_to_recordset jsonb_to_recordset jsonb_concat
    to_tsvector to_tsquery plainto_tsquery phraseto_tsquery websearch_to_tsquery ts_rank
    ts_rank_cd ts_headline setweight similarity word_similarity
    gen_random_uuid uuid_generate_v4 uuidv4 uuidv7
    coalesce nullif num_nonnulls num_nulls
    current_setting current_user current_schema current_database session_user version
    pg_backend_pid pg_postmaster_start_time inet_server_addr inet_client_addr
    pg_is_in_recovery pg_last_wal_replay_lsn pg_current_wal_lsn pg_typeof
    pg_size_pretty pg_relation_size pg_total_relation_size pg_table_size pg_indexes_size
    pg_database_size format_type to_regclass to_regtype obj_description col_description
    has_table_privilege has_schema_privilege has_database_privilege pg_get_indexdef
    pg_get_constraintdef pg_get_viewdef pg_sleep
    host hostmask netmask network broadcast masklen family set_masklen
    lower_inf upper_inf isempty range_merge int4range int8range numrange tsrange tstzrange
    daterange
    st_distance st_dwithin st_intersects st_contains st_within st_asgeojson st_astext
    st_makepoint st_setsrid st_x st_y
    """.split()  # noqa: SIM905 (a word list reads better than 300 quoted strings)
)


#: The names of what may write when a SELECT reaches it, for `is_read`'s `writers`:
#: every function outside pg_catalog and information_schema, whatever its volatility label
#: (a STABLE function may still call a VOLATILE one that writes), except an extension's
#: STABLE or IMMUTABLE ones (unaccent, similarity, st_distance...); then, recursively,
#: whatever calls one of them: an operator, a view (or a view on such a view), a table
#: whose row-level security policy calls one, a domain whose check calls one, the target
#: type of a cast through one. The server records those calls in pg_depend, except calls
#: to built-ins: a view calling nextval() reads as a read.
WRITERS = b"""
with recursive reach(classid, objid) as (
  select 'pg_proc'::regclass::oid, p.oid from pg_proc p
   where p.pronamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
     and (p.provolatile = 'v' or not exists (
          select from pg_depend e
           where e.classid = 'pg_proc'::regclass and e.objid = p.oid and e.deptype = 'e'))
  union
  select m.classid, m.objid
    from reach
    join pg_depend d on d.refclassid = reach.classid and d.refobjid = reach.objid
   cross join lateral (
         select 'pg_class'::regclass::oid, ev_class from pg_rewrite
          where d.classid = 'pg_rewrite'::regclass and oid = d.objid
         union all
         select 'pg_class'::regclass::oid, polrelid from pg_policy
          where d.classid = 'pg_policy'::regclass and oid = d.objid
         union all
         select 'pg_type'::regclass::oid, contypid from pg_constraint
          where d.classid = 'pg_constraint'::regclass and oid = d.objid and contypid <> 0
         union all
         select 'pg_type'::regclass::oid, casttarget from pg_cast
          where d.classid = 'pg_cast'::regclass and oid = d.objid
         union all
         select d.classid, d.objid
          where d.classid in ('pg_proc'::regclass, 'pg_operator'::regclass)
   ) m(classid, objid)
)
select distinct coalesce(p.proname, o.oprname, c.relname, t.typname)::text
  from reach
  left join pg_proc p on reach.classid = 'pg_proc'::regclass and p.oid = reach.objid
  left join pg_operator o on reach.classid = 'pg_operator'::regclass and o.oid = reach.objid
  left join pg_class c on reach.classid = 'pg_class'::regclass and c.oid = reach.objid
  left join pg_type t on reach.classid = 'pg_type'::regclass and t.oid = reach.objid
"""

_NONE: frozenset[str] = frozenset()


@lru_cache(maxsize=4096)
def is_read(statement: str | bytes, writers: frozenset[str] = _NONE) -> bool:
    """Whether `statement` only reads: running it twice cannot change data.

    `writers`: the names that may write on this database (the rows of `WRITERS`).
    Cached per statement text and set: the verdict costs a parse once, then a
    dictionary lookup.
    """
    raw = statement.encode() if isinstance(statement, str) else statement
    text = _PLACEHOLDER.sub(lambda m: b"%" if m.group() == b"%%" else b"$1", raw)
    try:
        statements = parse_sql(text.decode())
    except (ParseError, UnicodeDecodeError):
        return False
    if len(statements) != 1:
        return False
    return _reads(statements[0].stmt, writers)


def is_read_query(statement: str | bytes | sql.Composable, writers: frozenset[str] = _NONE) -> bool:
    """`is_read` of a statement composed with psycopg.sql too (False: a write)."""
    if isinstance(statement, str | bytes):
        return is_read(statement, writers)
    try:
        return is_read(statement.as_bytes(None), writers)
    except psycopg.Error:
        return False  # a literal that needs a connection to render: assume a write


@lru_cache(maxsize=4096)
def changes_session(statement: str | bytes) -> bool:
    """Whether `statement` may leave session state behind for the next user of its
    connection: a SET (not LOCAL, not TRANSACTION), a RESET, or a set_config() call.
    Anything that does not parse counts. A set_config() inside a function of yours is
    not seen.

    >>> changes_session("set app.tenant_id = '1'"), changes_session("set local x.y = 1")
    (True, False)
    >>> changes_session('select "set_config"(%s, %s, false)'), changes_session("select 1")
    (True, False)
    """
    raw = statement.encode() if isinstance(statement, str) else statement
    text = _PLACEHOLDER.sub(lambda m: b"%" if m.group() == b"%%" else b"$1", raw)
    try:
        statements = parse_sql(text.decode())
    except (ParseError, UnicodeDecodeError):
        return True
    finder = _SessionChanges()
    for raw_statement in statements:
        if raw_statement.stmt is not None:
            finder(raw_statement.stmt)
    return finder.found


def changes_session_query(statement: str | bytes | sql.Composable) -> bool:
    """`changes_session` of a statement composed with psycopg.sql too."""
    if isinstance(statement, str | bytes):
        return changes_session(statement)
    try:
        return changes_session(statement.as_bytes(None))
    except psycopg.Error:
        return True  # a literal that needs a connection to render: assume it may


class _SessionChanges(Visitor):
    found = False

    def visit_VariableSetStmt(self, ancestors: object, node: ast.VariableSetStmt) -> None:
        self.found |= not node.is_local and node.name != "TRANSACTION"

    def visit_FuncCall(self, ancestors: object, node: ast.FuncCall) -> None:
        self.found |= _names(node.funcname)[-1:] == ["set_config"]


def _reads(node: ast.Node | None, writers: frozenset[str]) -> bool:
    if isinstance(node, ast.VariableShowStmt):
        return True
    if isinstance(node, ast.ExplainStmt):  # EXPLAIN ANALYZE runs the statement
        return _reads(node.query, writers)
    if not isinstance(node, ast.SelectStmt):
        return False
    finder = _Writes(writers)
    finder(node)
    return not finder.found


def _names(nodes: tuple[ast.Node, ...] | None) -> list[str]:
    """The identifiers among `nodes` (a name list), as the parser gave them."""
    return [n.sval or "" for n in nodes or () if isinstance(n, ast.String)]


class _Writes(Visitor):
    """Looks for anything in a SELECT that may write."""

    found = False

    def __init__(self, writers: frozenset[str]):
        super().__init__()
        self.writers = writers

    def visit_SelectStmt(self, ancestors: object, node: ast.SelectStmt) -> None:
        if node.intoClause is not None:  # SELECT ... INTO new_table
            self.found = True

    def visit_CommonTableExpr(self, ancestors: object, node: ast.CommonTableExpr) -> None:
        if not isinstance(node.ctequery, ast.SelectStmt):  # WITH x AS (INSERT/UPDATE/...)
            self.found = True

    def visit_FuncCall(self, ancestors: object, node: ast.FuncCall) -> None:
        *schema, name = _names(node.funcname)
        if schema == ["pg_catalog"]:  # the built-in, whatever else is on search_path
            self.found |= name not in READ_ONLY_FUNCTIONS
        else:
            self.found |= bool(schema) or name not in READ_ONLY_FUNCTIONS or name in self.writers

    def visit_ColumnRef(self, ancestors: object, node: ast.ColumnRef) -> None:
        # t.f is f(t) when t has no column f (attribute notation), as is t.c.f.
        self.found |= not self.writers.isdisjoint(_names(node.fields)[1:])

    def visit_A_Indirection(self, ancestors: object, node: ast.A_Indirection) -> None:
        self.found |= not self.writers.isdisjoint(_names(node.indirection))  # (t).f

    def visit_A_Expr(self, ancestors: object, node: ast.A_Expr) -> None:
        *schema, name = _names(node.name) or [""]
        self.found |= schema != ["pg_catalog"] and name in self.writers

    def visit_RangeVar(self, ancestors: object, node: ast.RangeVar) -> None:
        self.found |= node.relname in self.writers  # a view, a table with a policy

    def visit_TypeName(self, ancestors: object, node: ast.TypeName) -> None:
        *schema, name = _names(node.names) or [""]
        self.found |= schema != ["pg_catalog"] and name in self.writers
