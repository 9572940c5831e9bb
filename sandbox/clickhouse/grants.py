"""Users and grants, enforced by the HTTP front as a declared stand-in for ClickHouse's RBAC.

Measured on chdb 26.9 (see docs/sandbox.md): users from a `users.xml` load, but every query runs
as the embedded `default` user: there is no per-query user, `EXECUTE AS` stays disabled whatever
`access_control_improvements` says, and `user_directories` are not writable, so `CREATE USER` /
`GRANT` fail. The front therefore checks each statement of a restricted user against its grants
before the engine runs it, and refuses with ClickHouse's own ACCESS_DENIED (Code 497) text.

What a statement needs is read from the engine's parser, not from regexes over the SQL:
`formatQuerySingleLine` (which also refuses multi-statements, as ClickHouse's HTTP handler does)
gives the statement's normalised text, `EXPLAIN AST` its kind, tables, table functions and ALTER
commands. The privilege each needs follows ClickHouse's `InterpreterAlterQuery` and access types
(DROP PARTITION needs `ALTER DELETE`, as a DELETE mutation does). Simplified: SELECT is checked
per table, not per column (ClickHouse's message would name the columns); tables of `system`
outside a small always-readable set need a grant (`select_from_system_db_requires_grant`);
`USE` in a session is not followed (unqualified names resolve to the request's `database`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sandbox.clickhouse.engine import quote_literal
from sandbox.clickhouse.errors import ClickHouseError

ACCESS_DENIED = 497
ALL = "ALL"

# system tables any user may read (constant tables and those ClickHouse filters by grant)
ALWAYS_READABLE = frozenset(
    "one numbers numbers_mt zeros zeros_mt settings merge_tree_settings server_settings "
    "functions formats table_functions data_type_families table_engines database_engines "
    "time_zones build_options contributors licenses collations privileges current_roles "
    "enabled_roles quota_usage databases tables columns".split()
)

# ALTER command kinds (ASTAlterCommand::Type) -> access type, per InterpreterAlterQuery
_ALTER = {
    "DELETE": ["ALTER DELETE"], "DROP_PARTITION": ["ALTER DELETE"],
    "DROP_DETACHED_PARTITION": ["ALTER DELETE"], "FORGET_PARTITION": ["ALTER DELETE"],
    "APPLY_DELETED_MASK": ["ALTER DELETE"], "UPDATE": ["ALTER UPDATE"],
    "ATTACH_PARTITION": ["INSERT"], "REPLACE_PARTITION": ["ALTER DELETE", "INSERT"],
    "FETCH_PARTITION": ["ALTER FETCH PARTITION"], "MOVE_PARTITION": ["ALTER MOVE PARTITION"],
    "FREEZE_PARTITION": ["ALTER FREEZE PARTITION"], "FREEZE_ALL": ["ALTER FREEZE PARTITION"],
    "UNFREEZE_PARTITION": ["ALTER FREEZE PARTITION"], "UNFREEZE_ALL": ["ALTER FREEZE PARTITION"],
    "MODIFY_TTL": ["ALTER TTL"], "REMOVE_TTL": ["ALTER TTL"],
    "MODIFY_SETTING": ["ALTER SETTINGS"], "RESET_SETTING": ["ALTER SETTINGS"],
}  # fmt: skip
_SOURCES = {"remote": "REMOTE", "remoteSecure": "REMOTE", "cluster": "REMOTE", "url": "URL",
            "file": "FILE", "s3": "S3", "mysql": "MYSQL", "postgresql": "POSTGRES"}  # fmt: skip
_TOP_TABLE = {"TruncateQuery": "TRUNCATE", "OptimizeQuery": "OPTIMIZE", "DropQuery": "DROP TABLE",
              "CreateQuery": "CREATE TABLE", "RenameQuery": "ALTER RENAME"}  # fmt: skip
_FREE = {"Set", "UseQuery", "ShowTables", "ShowDatabases", "ShowCreateTableQuery",
         "DescribeQuery", "ExistsTableQuery"}  # fmt: skip


@dataclass(frozen=True)
class Grant:
    privilege: str  # an access type as ClickHouse spells it, e.g. "ALTER DELETE", or ALL
    database: str  # or "*"
    table: str  # or "*"

    def covers(self, need: Grant) -> bool:
        return (
            self.privilege in (ALL, need.privilege)
            and self.database in ("*", need.database)
            and self.table in ("*", need.table)
        )

    def target(self) -> str:
        return f"{self.database}.{self.table}"


_GRANT = re.compile(r"^\s*(?P<privs>.+?)\s+ON\s+(?P<db>\*|\w+)\.(?P<table>\*|\w+)\s*$", re.I)


def parse_grants(lines: Iterable[str]) -> list[Grant]:
    """`["SELECT, INSERT ON torghut.*", "SYSTEM RESTART REPLICA ON torghut.ta_signals"]`."""
    out: list[Grant] = []
    for line in lines:
        match = _GRANT.match(line)
        if not match:
            raise ValueError(f"grant {line!r} must look like 'PRIVILEGE[, ...] ON db.table'")
        for priv in match["privs"].split(","):
            name = " ".join(priv.split()).upper()
            out.append(Grant(name, match["db"], match["table"]))
    return out


Runner = Callable[[str, dict[str, str]], str]  # (sql, params) -> TabSeparatedRaw text


def _ast_lines(text: str) -> list[tuple[int, str]]:
    out = []
    for raw in text.splitlines():
        if raw.strip():
            stripped = raw.lstrip(" ")
            out.append((len(raw) - len(stripped), stripped))
    return out


def _qualified(name: str, database: str) -> tuple[str, str]:
    db, sep, table = name.partition(".")
    return (db, table) if sep else (database, name)


def _read_needs(lines: list[tuple[int, str]], database: str) -> list[Grant]:
    """SELECT on every table read, CREATE TEMPORARY TABLE (+ source) for table functions."""
    needs: list[Grant] = []
    for i, (indent, text) in enumerate(lines):
        if text.startswith("TableIdentifier "):
            db, table = _qualified(text.split(" ")[1], database)
            if not (db == "system" and table in ALWAYS_READABLE):
                needs.append(Grant("SELECT", db, table))
        elif text.startswith("TableExpression") and i + 1 < len(lines):
            child_indent, child = lines[i + 1]
            if child_indent > indent and child.startswith("Function "):
                name = child.split(" ")[1]
                needs.append(Grant("CREATE TEMPORARY TABLE", "*", "*"))
                if name in _SOURCES:
                    needs.append(Grant(_SOURCES[name], "*", "*"))
    return needs


def _target(lines: list[tuple[int, str]], database: str) -> tuple[str, str]:
    """The statement's own table: the leading `Identifier` children of the top node."""
    names = []
    for indent, text in lines[1:]:
        if indent == 1 and text.startswith("Identifier "):
            names.append(text.split(" ", 1)[1])
        elif indent == 1 and names:
            break
    if len(names) >= 2:
        return names[0], names[1]
    if names:
        return database, names[0]
    return "*", "*"


def required(formatted: str, ast: str, database: str) -> list[Grant]:
    """The grants a statement needs, from its normalised text and its `EXPLAIN AST`."""
    lines = _ast_lines(ast)
    kind = lines[0][1].split(" ")[0] if lines else ""
    if kind in _FREE:
        return []
    reads = _read_needs(lines, database)
    if kind in ("SelectWithUnionQuery", "Explain"):
        return reads
    db, table = _target(lines, database)
    if kind == "InsertQuery":
        return [Grant("INSERT", db, table), *reads]
    if kind == "AlterQuery":
        needs = []
        for _, text in lines:
            if text.startswith("AlterCommand "):
                command = text.split(" ")[1]
                for priv in _ALTER.get(command, ["ALTER " + command.replace("_", " ")]):
                    needs.append(Grant(priv, db, table))
        return needs + reads
    if kind == "SYSTEM":
        words = []
        for word in formatted.split()[1:]:
            if not word.isupper() or not word.isalpha():
                break
            words.append(word)
        return [Grant("SYSTEM " + " ".join(words), db, table)]
    if kind in _TOP_TABLE:
        return [Grant(_TOP_TABLE[kind], db, table), *reads]
    return [Grant(ALL, "*", "*")]


def denied(user: str, need: Grant) -> ClickHouseError:
    return ClickHouseError.make(
        ACCESS_DENIED,
        "ACCESS_DENIED",
        f"{user}: Not enough privileges. To execute this query, it's necessary to have the "
        f"grant {need.privilege} ON {need.target()}",
    )


_IN_SCOPE = re.compile(r"\s*: In scope SELECT formatQuerySingleLine\(.*\)\.(?= \(\w+\)$)", re.S)
# settings a restricted user may not change (a profile constraint `<readonly/>` in ClickHouse)
CONSTRAINED = ("max_partition_size_to_drop", "max_table_size_to_drop")


def check_settings(settings: Iterable[str], formatted: str = "") -> None:
    """Refuse a change of a constrained setting, as a `<constraints>` profile does (Code 452)."""
    words = set(re.findall(r"\w+", formatted))
    for name in CONSTRAINED:
        if name in settings or name in words:
            raise ClickHouseError.make(
                452, "SETTING_CONSTRAINT_VIOLATION", f"Setting {name} should not be changed"
            )


# What a statement needs depends on its text, parameters and database only (the analysis is
# syntactic), so it is kept: the exporter and the TA writer repeat the same statements, and two
# engine calls per statement were most of the server's CPU at rest. Errors are not kept.
_NEEDS_KEPT = 1024
_needs_by_statement: dict[tuple[str, tuple[tuple[str, str], ...], str], list[Grant]] = {}


def _needs(sql: str, params: dict[str, str], database: str, run: Runner) -> list[Grant]:
    key = (sql, tuple(sorted(params.items())), database)
    kept = _needs_by_statement.get(key)
    if kept is not None:
        return kept
    try:
        formatted = run(f"SELECT formatQuerySingleLine({quote_literal(sql)})", {}).strip()
    except ClickHouseError as err:
        err.message = _IN_SCOPE.sub("", err.message)
        raise
    check_settings((), formatted)
    needs = required(formatted, run("EXPLAIN AST " + formatted, params), database)
    if len(_needs_by_statement) >= _NEEDS_KEPT:
        _needs_by_statement.clear()
    _needs_by_statement[key] = needs
    return needs


def authorize(
    user: str, grants: list[Grant], sql: str, params: dict[str, str], database: str,
    run: Runner,
) -> None:  # fmt: skip
    """Raise ACCESS_DENIED (or the parser's own error) unless `grants` cover `sql`."""
    for need in _needs(sql, params, database, run):
        if not any(g.covers(need) for g in grants):
            raise denied(user, need)


def load_users(path: Path) -> tuple[dict[str, str], dict[str, list[Grant]]]:
    """Passwords and grants from the users file (see `python -m sandbox.clickhouse --help`)."""
    users: dict[str, str] = {}
    grants: dict[str, list[Grant]] = {}
    for name, spec in json.loads(path.read_text()).items():
        if not isinstance(spec, dict) or "password_file" not in spec:
            raise ValueError(f"{path}: user {name!r} needs a password_file")
        users[name] = Path(spec["password_file"]).read_text().rstrip("\n")
        try:
            grants[name] = parse_grants(spec.get("grants", []))
        except ValueError as exc:
            raise ValueError(f"{path}: user {name!r}: {exc}") from None
    return users, grants


# what the exporter reads besides the TA tables (storage_policies: the disks a table may use)
_READ_STORAGE = [
    f"SELECT ON system.{t}" for t in ("parts", "replicas", "disks", "storage_policies")
]
_TA = ("ta_signals", "ta_microbars")
# The sandbox's identities: the TA job's writer, the exporter's read-only ops user, and the
# remediator, which may drop partitions of and restart/restore the TA tables and nothing else.
ROLES: dict[str, list[str]] = {
    "writer": ["SELECT, INSERT ON torghut.*"],
    "ops": ["SELECT ON torghut.*", *_READ_STORAGE],
    "remediator": [
        *(
            f"ALTER DELETE, SYSTEM RESTART REPLICA, SYSTEM RESTORE REPLICA ON torghut.{t}"
            for t in _TA
        ),
        *_READ_STORAGE,
        # a replay's plan reads the tables' engines and TTL, and its check the window's rows
        "SELECT ON system.tables",
        *(f"SELECT ON torghut.{t}" for t in _TA),
    ],
}
