"""BI access: read-only login users, row-level security per store, and the grants behind them.

Two group roles (NOLOGIN) carry every privilege; BI users are login roles that are members of one:

* ``nexus_bi_reader`` — every store. ``SELECT`` on every table and view of the BI schemas (the
  marts' schemas and ``analytics``), kept for tables created later by default privileges.
* ``nexus_bi_store_reader`` — the stores listed for the user in ``nexus_bi.store_access``.
  ``SELECT`` only on the tables that have a ``store_id`` column, each with row-level security
  (policy ``nexus_bi_own_stores``: ``store_id`` in the user's stores), and on views with a
  ``store_id`` made ``security_invoker`` (so the tables' policies apply through them). Tables
  without ``store_id`` (the product marts, ``dim_date``, store-less analytics) are not granted.

It fails closed: a table dbt or an asset re-creates has no grant for store-limited users until it
is secured again, which happens in the same transaction (the marts' dbt post-hook and
``frames.ensure_table`` call ``nexus_bi.secure_relation``) and again in ``apply_access`` after
every build. Both groups have ``CONNECT`` on the warehouse database; ``TEMP`` on it and
``CONNECT`` on the Dagster database are revoked from ``PUBLIC``. BI users get no ``USAGE`` on
``raw``, ``quarantine``, ``ops``, ``staging`` or ``intermediate``.

Nothing here fails a run for want of a privilege (a warehouse user with ``CREATEDB`` but not
``CREATEROLE``, say): ``apply_access`` returns what it could not do, the privilege missing and the
SQL an administrator can run instead.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from . import locks
from .connection import scalar

READER = "nexus_bi_reader"
STORE_READER = "nexus_bi_store_reader"
GROUPS = (READER, STORE_READER)
ACCESS_SCHEMA = "nexus_bi"
POLICY_ALL = "nexus_bi_all_stores"
POLICY_STORES = "nexus_bi_own_stores"
FUNCTION_VERSION = "nexus_bi 2"
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_LOCK = "bi_access"

# One relation, secured for the groups (owner of the relation runs it; idempotent, and cheap when
# nothing changed: it alters only what is missing). Returns how the relation is granted.
SECURE_RELATION = """
create or replace function nexus_bi.secure_relation(rel regclass) returns text
language plpgsql set search_path = pg_catalog as $fn$
declare
  kind "char";
  rls boolean;
  store_type text;
  cast_to_text text;
begin
  if (select count(*) from pg_roles where rolname in ('nexus_bi_reader', 'nexus_bi_store_reader')) < 2 then
    return 'no BI groups';
  end if;
  select c.relkind, c.relrowsecurity into kind, rls from pg_class c where c.oid = rel;
  select format_type(a.atttypid, a.atttypmod) into store_type from pg_attribute a
   where a.attrelid = rel and a.attname = 'store_id' and a.attnum > 0 and not a.attisdropped;
  if not has_table_privilege('nexus_bi_reader', rel, 'select') then
    execute format('grant select on %s to nexus_bi_reader', rel);
  end if;
  if kind in ('r', 'p') and store_type is not null then
    if not rls then
      execute format('alter table %s enable row level security', rel);
    end if;
    if not exists (select 1 from pg_policy where polrelid = rel and polname = 'nexus_bi_all_stores') then
      execute format('create policy nexus_bi_all_stores on %s for select to nexus_bi_reader using (true)', rel);
    end if;
    if not exists (select 1 from pg_policy where polrelid = rel and polname = 'nexus_bi_own_stores') then
      cast_to_text := case when store_type = 'text' then '' else '::text' end;
      execute format(
        'create policy nexus_bi_own_stores on %s for select to nexus_bi_store_reader '
        'using (store_id%s = any ((select nexus_bi.allowed_stores())::text[]))', rel, cast_to_text);
    end if;
    if not has_table_privilege('nexus_bi_store_reader', rel, 'select') then
      execute format('grant select on %s to nexus_bi_store_reader', rel);
    end if;
    return 'store rows';
  elsif kind = 'v' and store_type is not null and current_setting('server_version_num')::int >= 150000 then
    execute format('alter view %s set (security_invoker = true)', rel);
    if not has_table_privilege('nexus_bi_store_reader', rel, 'select') then
      execute format('grant select on %s to nexus_bi_store_reader', rel);
    end if;
    return 'store rows';
  end if;
  if has_table_privilege('nexus_bi_store_reader', rel, 'select') then
    execute format('revoke select on %s from nexus_bi_store_reader', rel);
  end if;
  return 'all stores only';
end $fn$;
"""

# The stores of the session's user (security definer: BI users cannot read store_access itself).
ALLOWED_STORES = """
create or replace function nexus_bi.allowed_stores() returns text[]
language sql stable security definer set search_path = pg_catalog as $fn$
  select coalesce(array_agg(store_id order by store_id), '{}'::text[])
  from nexus_bi.store_access where role_name = session_user
$fn$;
"""


@dataclass(frozen=True)
class Skipped:
    what: str
    privilege: str
    admin_sql: str

    def describe(self) -> str:
        return f"could not {self.what} (needs {self.privilege}); an administrator can run: {self.admin_sql}"


@dataclass
class AccessReport:
    skipped: list[Skipped] = field(default_factory=list)
    relations: dict[str, str] = field(default_factory=dict)  # "schema.name" -> how it is granted

    def lines(self) -> list[str]:
        return [s.describe() for s in self.skipped]


@dataclass(frozen=True)
class BiUser:
    name: str
    stores: tuple[str, ...] | None  # None: every store
    can_login: bool

    @property
    def scope(self) -> str:
        return "all stores" if self.stores is None else ", ".join(self.stores) or "(no store)"


class BiError(Exception):
    """A BI user operation that cannot be done, with a message for the person who asked."""


def _ident(*names: str) -> sql.Identifier:
    return sql.Identifier(*names)


def _attempt(
    conn: psycopg.Connection, report: AccessReport, skipped: Skipped, statement: Any, params: Any = None
) -> bool:
    """Run ``statement`` in a savepoint; on a missing privilege, record ``skipped`` and go on."""
    try:
        with conn.transaction():
            conn.execute(statement, params)
        return True
    except psycopg.errors.InsufficientPrivilege:
        report.skipped.append(skipped)
        return False


def _role_exists(conn: psycopg.Connection, name: str) -> bool:
    return bool(scalar(conn, "select exists (select 1 from pg_roles where rolname = %s)", (name,)))


def _ensure_groups(conn: psycopg.Connection, report: AccessReport) -> bool:
    missing = [g for g in GROUPS if not _role_exists(conn, g)]
    user = scalar(conn, "select current_user")
    for group in missing:
        statement = sql.SQL("create role {} nologin").format(_ident(group))
        try:
            with conn.transaction():
                conn.execute(statement)
        except psycopg.errors.DuplicateObject:
            pass  # another process created it meanwhile
        except psycopg.errors.InsufficientPrivilege:
            groups = "; ".join(f"CREATE ROLE {g} NOLOGIN" for g in missing)
            admins = "; ".join(f"GRANT {g} TO {user} WITH ADMIN OPTION" for g in missing)
            report.skipped.append(
                Skipped(
                    "create the BI group roles, so no BI grants were made",
                    "CREATEROLE",
                    f"{groups}; {admins};",
                )
            )
            return False
    return True


def _ensure_access_functions(conn: psycopg.Connection) -> None:
    conn.execute(sql.SQL("create schema if not exists {}").format(_ident(ACCESS_SCHEMA)))
    conn.execute(
        "create table if not exists nexus_bi.store_access ("
        " role_name name not null, store_id text not null, primary key (role_name, store_id))"
    )
    current = scalar(
        conn,
        "select obj_description(to_regprocedure('nexus_bi.secure_relation(regclass)'), 'pg_proc')",
    )
    if current != FUNCTION_VERSION:
        conn.execute(SECURE_RELATION)
        conn.execute(ALLOWED_STORES)
        conn.execute(
            sql.SQL("comment on function nexus_bi.secure_relation(regclass) is {}").format(
                sql.Literal(FUNCTION_VERSION)
            )
        )
    conn.execute("revoke all on function nexus_bi.allowed_stores() from public")
    conn.execute("revoke all on function nexus_bi.secure_relation(regclass) from public")
    conn.execute("revoke all on table nexus_bi.store_access from public")
    conn.execute(sql.SQL("grant usage on schema nexus_bi to {}").format(_ident(STORE_READER)))
    conn.execute(
        sql.SQL("grant execute on function nexus_bi.allowed_stores() to {}").format(_ident(STORE_READER))
    )


def _database_grants(conn: psycopg.Connection, report: AccessReport, dagster_database: str | None) -> None:
    database, user = one_database_and_user(conn)
    db = _ident(database)
    for group in GROUPS:
        _attempt(
            conn,
            report,
            Skipped(
                f"grant CONNECT on database {database} to {group}",
                "ownership of the database",
                f"GRANT CONNECT ON DATABASE {database} TO {group};",
            ),
            sql.SQL("grant connect on database {} to {}").format(db, _ident(group)),
        )
    if scalar(conn, "select has_database_privilege('public', current_database(), 'temporary')"):
        if _is_owner_of_database(conn, database):
            conn.execute(sql.SQL("grant temporary on database {} to {}").format(db, _ident(user)))
            conn.execute(sql.SQL("revoke temporary on database {} from public").format(db))
        else:
            report.skipped.append(
                Skipped(
                    f"revoke TEMPORARY on database {database} from PUBLIC (BI users can create temporary tables)",
                    "ownership of the database",
                    f"GRANT TEMPORARY ON DATABASE {database} TO {user}; "
                    f"REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC;",
                )
            )
    if scalar(conn, "select has_schema_privilege('public', 'public', 'create')") and scalar(
        conn, "select pg_has_role(current_user, nspowner, 'usage') from pg_namespace where nspname = 'public'"
    ):
        conn.execute("revoke create on schema public from public")
    if dagster_database and dagster_database != database:
        exists = scalar(
            conn, "select exists (select 1 from pg_database where datname = %s)", (dagster_database,)
        )
        if exists and scalar(
            conn, "select has_database_privilege('public', %s, 'connect')", (dagster_database,)
        ):
            if _is_owner_of_database(conn, dagster_database):
                conn.execute(
                    sql.SQL("revoke connect on database {} from public").format(_ident(dagster_database))
                )
            else:
                report.skipped.append(
                    Skipped(
                        f"revoke CONNECT on the Dagster database {dagster_database} from PUBLIC",
                        "ownership of that database",
                        f"REVOKE CONNECT ON DATABASE {dagster_database} FROM PUBLIC; "
                        f"GRANT CONNECT ON DATABASE {dagster_database} TO {user};",
                    )
                )


def one_database_and_user(conn: psycopg.Connection) -> tuple[str, str]:
    row = conn.execute("select current_database(), current_user").fetchone()
    assert row is not None
    return row[0], row[1]


def _is_owner_of_database(conn: psycopg.Connection, database: str) -> bool:
    return bool(
        scalar(
            conn,
            "select pg_has_role(current_user, datdba, 'usage') from pg_database where datname = %s",
            (database,),
        )
    )


def _schema_grants(conn: psycopg.Connection, report: AccessReport, schemas: Iterable[str]) -> None:
    for schema in schemas:
        ident = _ident(schema)
        conn.execute(sql.SQL("create schema if not exists {}").format(ident))
        for group in GROUPS:
            _attempt(
                conn,
                report,
                Skipped(
                    f"grant USAGE on schema {schema} to {group}",
                    f"ownership of schema {schema}",
                    f"GRANT USAGE ON SCHEMA {schema} TO {group};",
                ),
                sql.SQL("grant usage on schema {} to {}").format(ident, _ident(group)),
            )
        conn.execute(
            sql.SQL("alter default privileges in schema {} grant select on tables to {}").format(
                ident, _ident(READER)
            )
        )


def _secure_one(conn: psycopg.Connection, report: AccessReport, regclass: str) -> str:
    """``secure_relation`` on one relation; a concurrent build of the same relation (a catalog row
    updated meanwhile, or the relation dropped) is retried once, then reported."""
    error: psycopg.Error | None = None
    for attempt in (1, 2):
        try:
            with conn.transaction():
                return str(scalar(conn, "select nexus_bi.secure_relation(%s::regclass)", (regclass,)))
        except psycopg.errors.UndefinedTable:
            return "dropped meanwhile"
        except psycopg.errors.InsufficientPrivilege as exc:
            error = exc
            break
        except (psycopg.errors.InternalError_, psycopg.errors.LockNotAvailable) as exc:
            error = exc
            if attempt == 2:
                break
    report.skipped.append(
        Skipped(
            f"secure {regclass} ({str(error).splitlines()[0]})",
            "ownership of the relation",
            f"SELECT nexus_bi.secure_relation('{regclass}');",
        )
    )
    return "not secured"


def _secure_relations(conn: psycopg.Connection, report: AccessReport, schemas: Iterable[str]) -> None:
    rows = conn.execute(
        "select c.oid::regclass::text, n.nspname, c.relname, pg_has_role(current_user, c.relowner, 'usage')"
        " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm') order by 2, 3",
        (list(schemas),),
    ).fetchall()
    not_owned = []
    for regclass, schema, name, owned in rows:
        if not owned:
            not_owned.append(f"{schema}.{name}")
            continue
        report.relations[f"{schema}.{name}"] = _secure_one(conn, report, regclass)
    if not_owned:
        report.skipped.append(
            Skipped(
                f"secure {len(not_owned)} relation(s) owned by another role: {', '.join(not_owned[:5])}"
                + (" ..." if len(not_owned) > 5 else ""),
                "ownership of the relations",
                "ALTER TABLE <relation> OWNER TO <the warehouse user>; (then run again)",
            )
        )


def apply_access(
    url: str,
    schemas: Iterable[str],
    *,
    dagster_database: str | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> AccessReport:
    """(Re)apply every grant and policy of the BI groups on ``schemas``; idempotent.

    Returns what could not be done for want of a privilege; never raises for that.
    """
    report = AccessReport()
    schemas = tuple(schemas)
    with psycopg.connect(url, autocommit=True) as conn, locks.held(conn, _LOCK, on_wait=on_wait):
        if not _ensure_groups(conn, report):
            return report
        _ensure_access_functions(conn)
        _database_grants(conn, report, dagster_database)
        _schema_grants(conn, report, schemas)
        _secure_relations(conn, report, schemas)
    return report


def secure_new_relation(conn: psycopg.Connection, schema: str, name: str) -> None:
    """Secure one relation in the caller's transaction (a table just created), when BI access is set
    up on this warehouse; a no-op otherwise, and never an error."""
    if scalar(conn, "select to_regprocedure('nexus_bi.secure_relation(regclass)') is null"):
        return
    try:  # the relation is new and not yet committed: no other session can secure it meanwhile
        with conn.transaction():
            conn.execute(
                "select nexus_bi.secure_relation(%s::regclass)",
                (sql.Identifier(schema, name).as_string(conn),),
            )
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedObject):
        pass  # apply_access after the build reports it


# ---------------------------------------------------------------- users
def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise BiError(
            f"{name!r} is not a valid BI user name: lower-case letters, digits and _, starting with a letter or _, "
            "at most 63 characters"
        )
    if name.startswith("pg_") or name in GROUPS:
        raise BiError(f"{name!r} is reserved: choose another BI user name")
    return name


def generate_password() -> str:
    return secrets.token_urlsafe(24)


def _membership(conn: psycopg.Connection, name: str) -> set[str]:
    rows = conn.execute(
        "select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid"
        " join pg_roles u on u.oid = m.member where u.rolname = %s",
        (name,),
    ).fetchall()
    return {r[0] for r in rows} & set(GROUPS)


def _known_stores(conn: psycopg.Connection) -> set[str] | None:
    stores: set[str] = set()
    found = False
    for relation in ("marts.dim_store", "raw.stores"):
        if scalar(conn, "select to_regclass(%s) is not null", (relation,)):
            found = True
            stores |= {
                r[0]
                for r in conn.execute(
                    sql.SQL("select distinct store_id::text from {}").format(
                        sql.Identifier(*relation.split("."))
                    )
                )
            }
    return stores if found else None


def _set_password(conn: psycopg.Connection, name: str, password: str) -> None:
    verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256")
    conn.execute(sql.SQL("alter role {} password {}").format(_ident(name), sql.Literal(verifier.decode())))


def _require_privilege(action: str, admin_sql: str) -> BiError:
    return BiError(
        f"the warehouse user may not {action} (it needs CREATEROLE, and ADMIN OPTION on the BI groups); "
        f"an administrator can run: {admin_sql}"
    )


def add_user(
    url: str,
    name: str,
    stores: list[str] | None,
    password: str,
    schemas: Iterable[str],
    dagster_database: str | None = None,
) -> tuple[BiUser, bool, AccessReport]:
    """Create BI user ``name`` (every store when ``stores`` is None), or update an existing one's
    stores; returns (user, created, report). The password is set only when the user is created."""
    check_name(name)
    report = apply_access(url, schemas, dagster_database=dagster_database)
    with psycopg.connect(url, autocommit=True) as conn, locks.held(conn, _LOCK):
        if not all(_role_exists(conn, g) for g in GROUPS):
            raise BiError("; ".join(report.lines()) or "the BI groups do not exist")
        if stores is not None:
            stores = sorted(set(stores))
            known = _known_stores(conn)
            unknown = [s for s in stores if known is not None and s not in known]
            if unknown:
                raise BiError(
                    f"unknown store(s) {', '.join(unknown)}; the warehouse has {', '.join(sorted(known or [])) or 'none'}"
                )
        group = READER if stores is None else STORE_READER
        other = STORE_READER if stores is None else READER
        created = not _role_exists(conn, name)
        if not created and not _membership(conn, name):
            raise BiError(f"role {name} exists and is not a BI user: choose another name")
        try:
            with conn.transaction():
                if created:
                    conn.execute(
                        sql.SQL("create role {} login nosuperuser nocreatedb nocreaterole in role {}").format(
                            _ident(name), _ident(group)
                        )
                    )
                    _set_password(conn, name, password)
                    conn.execute(
                        sql.SQL("alter role {} set search_path = {}").format(
                            _ident(name), sql.SQL(", ").join(map(_ident, schemas))
                        )
                    )
                else:
                    conn.execute(sql.SQL("grant {} to {}").format(_ident(group), _ident(name)))
                    if other in _membership(conn, name):
                        conn.execute(sql.SQL("revoke {} from {}").format(_ident(other), _ident(name)))
                conn.execute("delete from nexus_bi.store_access where role_name = %s", (name,))
                for store in stores or ():
                    conn.execute("insert into nexus_bi.store_access values (%s, %s)", (name, store))
        except psycopg.errors.InsufficientPrivilege as exc:
            raise _require_privilege(
                "create BI users",
                f"CREATE ROLE {name} LOGIN PASSWORD '<password>' IN ROLE {group};",
            ) from exc
    return BiUser(name, None if stores is None else tuple(stores), True), created, report


def list_users(url: str) -> list[BiUser]:
    with psycopg.connect(url) as conn:
        has_access = scalar(conn, "select to_regclass('nexus_bi.store_access') is not null")
        rows = conn.execute(
            "select u.rolname, g.rolname, u.rolcanlogin from pg_auth_members m"
            " join pg_roles g on g.oid = m.roleid join pg_roles u on u.oid = m.member"
            " where g.rolname = any(%s) order by 1",
            (list(GROUPS),),
        ).fetchall()
        access: dict[str, list[str]] = {}
        if has_access:
            for role, store in conn.execute(
                "select role_name, store_id from nexus_bi.store_access order by 1, 2"
            ):
                access.setdefault(role, []).append(store)
    users: dict[str, BiUser] = {}
    for name, group, login in rows:
        if group == READER or name not in users:
            users[name] = BiUser(name, None if group == READER else tuple(access.get(name, ())), login)
    return list(users.values())


def _existing_user(conn: psycopg.Connection, name: str) -> None:
    check_name(name)
    if not _role_exists(conn, name):
        raise BiError(f"no BI user {name}; `nexus bi list` shows them")
    if not _membership(conn, name):
        raise BiError(
            f"role {name} is not a BI user; nexus manages only members of {READER} and {STORE_READER}"
        )


def remove_user(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        _existing_user(conn, name)
        try:
            with conn.transaction():
                if scalar(conn, "select to_regclass('nexus_bi.store_access') is not null"):
                    conn.execute("delete from nexus_bi.store_access where role_name = %s", (name,))
                conn.execute(sql.SQL("drop role {}").format(_ident(name)))
        except psycopg.errors.InsufficientPrivilege as exc:
            raise _require_privilege("remove BI users", f"DROP ROLE {name};") from exc


def rotate_password(url: str, name: str, password: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        _existing_user(conn, name)
        try:
            _set_password(conn, name, password)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise _require_privilege(
                "change BI passwords", f"ALTER ROLE {name} PASSWORD '<password>';"
            ) from exc
