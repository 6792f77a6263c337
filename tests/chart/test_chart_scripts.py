"""The shell and psql scripts the chart ships in its ConfigMaps, run here for real: the Grafana
login user against PostgreSQL, the dataflow's wait for the schema, the recovery partitions."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.chart.chartlib import Manifest, one

VENV_BIN = str(Path(sys.executable).parent)


def _script(rendered: dict[str, list[Manifest]], configmap: str, key: str, tmp: Path) -> Path:
    path = tmp / key
    path.write_text(one(rendered["defaults"], "ConfigMap", configmap)["data"][key])
    return path


def _libpq_env(url: str, **extra: str) -> dict[str, str]:
    parts = conninfo_to_dict(url)
    return {
        **os.environ,
        "PGHOST": str(parts["host"]),
        "PGPORT": str(parts["port"]),
        "PGDATABASE": str(parts["dbname"]),
        "PGUSER": str(parts["user"]),
        **extra,
    }


def _login(script: Path, url: str, user: str, password: str, role: str) -> None:
    env = _libpq_env(url, LOGIN_USER=user, LOGIN_PASSWORD=password, LOGIN_ROLE=role)
    for _ in range(2):  # every upgrade runs it again
        done = subprocess.run(
            ["psql", "--no-psqlrc", f"--file={script}"], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr


def test_login_script_creates_the_dataflow_user_the_schema_wait_accepts(
    rendered: dict[str, list[Manifest]], database_url: str, tmp_path: Path
) -> None:
    from ico_core.db import migrate

    login = _script(rendered, "ico-analytics-migrate", "login-user.sql", tmp_path)
    wait = _script(rendered, "ico-analytics-dataflow-hosts", "wait-for-schema.sh", tmp_path)
    as_dataflow = conninfo_to_dict(database_url) | {"user": "ico_dataflow", "password": "s3"}
    env = _libpq_env(database_url) | {"PGUSER": "ico_dataflow", "PGPASSWORD": "s3"}
    migrate(database_url)
    with pytest.raises(subprocess.TimeoutExpired):  # no login yet: it keeps waiting
        subprocess.run(["sh", str(wait)], env=env, capture_output=True, timeout=4)
    _login(login, database_url, "ico_dataflow", "s3", "ico_writer")
    done = subprocess.run(["sh", str(wait)], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    with (
        psycopg.connect(**as_dataflow) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("DELETE FROM raw_data.dead_letters")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP OWNED BY ico_dataflow")
        conn.execute("DROP ROLE ico_dataflow")


@pytest.mark.parametrize("as_superuser", [True, False], ids=["superuser", "createrole"])
def test_grafana_user_script_creates_a_read_only_login_idempotently(
    rendered: dict[str, list[Manifest]],
    migrated_database_url: str,
    tmp_path: Path,
    as_superuser: bool,
) -> None:
    script = _script(rendered, "ico-analytics-migrate", "login-user.sql", tmp_path)
    user = str(conninfo_to_dict(migrated_database_url)["user"])
    if not as_superuser:
        # A managed database's user, which ran the migrations and so administers their roles.
        user = "ico_admin"
        with psycopg.connect(migrated_database_url, autocommit=True) as conn:
            conn.execute("DROP ROLE IF EXISTS grafana")
            conn.execute("CREATE ROLE ico_admin LOGIN CREATEROLE")
            conn.execute("GRANT grafana_reader TO ico_admin WITH ADMIN OPTION")
    env = _libpq_env(
        migrated_database_url,
        PGUSER=user,
        LOGIN_USER="grafana",
        LOGIN_PASSWORD="p'w",
        LOGIN_ROLE="grafana_reader",
    )
    try:
        for _ in range(2):  # every upgrade runs it again
            done = subprocess.run(
                ["psql", "--no-psqlrc", f"--file={script}"],
                env=env,
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stderr
        with psycopg.connect(migrated_database_url) as conn:
            role = conn.execute(
                "SELECT rolcanlogin, rolsuper, pg_has_role('grafana', 'grafana_reader', 'member')"
                " FROM pg_roles WHERE rolname = 'grafana'"
            ).fetchone()
        assert role == (True, False, True)
        grafana = conninfo_to_dict(migrated_database_url) | {"user": "grafana", "password": "p'w"}
        with psycopg.connect(**grafana) as conn:
            count = conn.execute("SELECT count(*) FROM analytics.window_aggregates").fetchone()
            assert count == (0,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM raw_data.dead_letters")
    finally:
        if not as_superuser:
            with psycopg.connect(migrated_database_url, autocommit=True) as conn:
                conn.execute("DROP ROLE grafana")  # with the membership ico_admin granted
                conn.execute("DROP ROLE ico_admin")


def test_dataflow_waits_for_the_schema(
    rendered: dict[str, list[Manifest]], database_url: str, tmp_path: Path
) -> None:
    script = _script(rendered, "ico-analytics-dataflow-hosts", "wait-for-schema.sh", tmp_path)
    env = _libpq_env(database_url)
    with pytest.raises(subprocess.TimeoutExpired):  # no migrations yet: it keeps waiting
        subprocess.run(["sh", str(script)], env=env, capture_output=True, timeout=4)
    from ico_core.db import migrate

    migrate(database_url)
    done = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_recovery_partitions_are_created_once_by_process_zero(
    rendered: dict[str, list[Manifest]], tmp_path: Path
) -> None:
    script = _script(rendered, "ico-analytics-dataflow-hosts", "init-recovery.sh", tmp_path)
    root = tmp_path / "volume"
    root.mkdir()

    def run(pod: str, timeout: float, partitions: int = 3) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "PATH": f"{VENV_BIN}:{os.environ['PATH']}",  # the image's python has bytewax
            "BYTEWAX_POD_NAME": pod,
            "RECOVERY_PARTITIONS": str(partitions),
            "RECOVERY_ROOT": str(root),
        }
        return subprocess.run(
            ["sh", str(script)], env=env, capture_output=True, text=True, timeout=timeout
        )

    with pytest.raises(subprocess.TimeoutExpired):  # process 1 waits for process 0
        run("ico-analytics-dataflow-1", timeout=3)
    created = run("ico-analytics-dataflow-0", timeout=60)
    assert created.returncode == 0, created.stderr
    parts = sorted(p.name for p in (root / "recovery").iterdir())
    assert parts == ["part-0.sqlite3", "part-1.sqlite3", "part-2.sqlite3"]
    assert not (root / "staging").exists()
    before = {p.name: p.stat().st_mtime_ns for p in (root / "recovery").iterdir()}
    for pod in ("ico-analytics-dataflow-1", "ico-analytics-dataflow-0"):  # restarts: no-ops
        assert run(pod, timeout=10).returncode == 0
    assert {p.name: p.stat().st_mtime_ns for p in (root / "recovery").iterdir()} == before
    # Another count in the values (a reinstall on the kept volume): every process stops, saying
    # what the volume holds, and the volume is left alone.
    for pod in ("ico-analytics-dataflow-0", "ico-analytics-dataflow-3"):
        refused = run(pod, timeout=10, partitions=4)
        assert refused.returncode == 1
        assert "holds 3 partitions, not dataflow.recovery.partitions=4" in refused.stderr
    assert {p.name: p.stat().st_mtime_ns for p in (root / "recovery").iterdir()} == before


@pytest.mark.parametrize("as_superuser", [True, False], ids=["superuser", "createrole-createdb"])
def test_registry_database_script_gives_the_registry_its_own_database(
    rendered: dict[str, list[Manifest]],
    migrated_database_url: str,
    tmp_path: Path,
    as_superuser: bool,
) -> None:
    script = _script(rendered, "ico-analytics-migrate", "registry-database.sql", tmp_path)
    admin = conninfo_to_dict(migrated_database_url)
    with psycopg.connect(migrated_database_url, autocommit=True) as conn:
        if not as_superuser:  # a managed database's user: no superuser, may create both
            conn.execute("CREATE ROLE ico_admin LOGIN CREATEROLE CREATEDB PASSWORD 'a'")
            admin |= {"user": "ico_admin", "password": "a"}
    env = _libpq_env(
        migrated_database_url,
        PGUSER=str(admin["user"]),
        REGISTRY_USER="schema_registry",
        REGISTRY_PASSWORD="r'1",
        REGISTRY_DATABASE="schema_registry",
    )
    try:
        for _ in range(2):  # every upgrade runs it again
            done = subprocess.run(
                ["psql", "--no-psqlrc", f"--file={script}"], env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr
        registry = conninfo_to_dict(migrated_database_url) | {
            "user": "schema_registry",
            "password": "r'1",
        }
        with psycopg.connect(**(registry | {"dbname": "schema_registry"})) as conn:
            conn.execute("CREATE TABLE artifacts (id bigint PRIMARY KEY)")  # it owns its schema
            role = conn.execute(
                "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles"
                " WHERE rolname = current_user"
            ).fetchone()
            assert role == (False, False, False)
        with (
            psycopg.connect(**registry) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute("SELECT count(*) FROM analytics.window_aggregates")
    finally:
        with psycopg.connect(migrated_database_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS schema_registry WITH (FORCE)")
            conn.execute("DROP ROLE IF EXISTS schema_registry")
            conn.execute("DROP ROLE IF EXISTS ico_admin")


def test_backup_script_dumps_keeps_the_newest_and_the_dump_restores(
    rendered: dict[str, list[Manifest]], migrated_database_url: str, tmp_path: Path
) -> None:
    from ico_analytics.services.postgres import _bin

    script = _script(rendered, "ico-analytics-backup", "backup.sh", tmp_path)
    dumps = tmp_path / "backup"
    dumps.mkdir()
    (dumps / "stale.dump.partial").write_text("a run that died midway")
    database = str(conninfo_to_dict(migrated_database_url)["dbname"])
    env = _libpq_env(
        migrated_database_url, BACKUP_DIR=str(dumps), BACKUP_DATABASES=database, BACKUP_KEEP="2"
    )
    # pg_dump of the server's major version, as the postgres image has.
    env["PATH"] = f"{Path(_bin('pg_dump')).parent}:{env['PATH']}"
    made = []
    for _ in range(3):
        done = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        made.append(done.stdout.split()[3])  # "dumped <db> to <file> (<size>)"
        time.sleep(1.1)  # dumps are named to the second
    assert sorted(p.name for p in dumps.iterdir()) == sorted(made[1:])
    # The README's restore: pg_restore into the database (here a new, empty one).
    copy = f"{database}_restored"
    with psycopg.connect(migrated_database_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {copy}")
    try:
        done = subprocess.run(
            [_bin("pg_restore"), "--exit-on-error", f"--dbname={copy}", str(dumps / made[-1])],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        count = "SELECT count(*) FROM processed_data.ico_websites"
        with psycopg.connect(migrated_database_url) as conn:
            expected = conn.execute(count).fetchone()
        with psycopg.connect(
            **(conninfo_to_dict(migrated_database_url) | {"dbname": copy})
        ) as conn:
            assert conn.execute(count).fetchone() == expected
    finally:
        with psycopg.connect(migrated_database_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {copy} WITH (FORCE)")
