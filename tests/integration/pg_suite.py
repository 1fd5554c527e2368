"""Runs an integration suite (test_crash, test_faults) on the PostgreSQL store: a fresh database
on the throwaway PostgreSQL of ctest's `postgres` fixture (its URL in IMAGEGATE_TEST_PG_FILE,
written by scripts/pg-test.sh) or on IMAGEGATE_TEST_PG, named in IMAGEGATE_TEST_STORE_URL for
the suite (invariants.store_url), and dropped afterwards.

    python3 pg_suite.py test_crash [unittest args...]

Extra environment for the suite: PG_SUITE_ENV="NAME=VALUE,..." (e.g. the crash cycles). With no
PostgreSQL configured it fails: ctest always sets the file, so a silent skip would hide a broken
fixture."""
import os
import random
import re
import subprocess
import sys

from test_postgres import PSQL, psql, server_url, with_database


def main():
    if len(sys.argv) < 2:
        print("usage: pg_suite.py SUITE [unittest args...]", file=sys.stderr)
        return 2
    suite, rest = sys.argv[1], sys.argv[2:]
    admin_url = server_url()
    if not admin_url:
        print("pg_suite: no PostgreSQL (IMAGEGATE_TEST_PG_FILE or IMAGEGATE_TEST_PG)",
              file=sys.stderr)
        return 1
    if not PSQL:
        print("pg_suite: psql is not installed (postgresql-client)", file=sys.stderr)
        return 1
    db = "ig_suite_%s_%d" % (re.sub(r"\W", "_", suite.split(".")[0].replace("test_", "")).lower(),
                              random.randrange(1 << 40))
    psql(admin_url, "CREATE DATABASE " + db)
    try:
        env = dict(os.environ, IMAGEGATE_TEST_STORE_URL=with_database(admin_url, db))
        for item in filter(None, os.environ.get("PG_SUITE_ENV", "").split(",")):
            name, _, value = item.partition("=")
            env[name] = value
        print("pg_suite: %s on database %s" % (suite, db), file=sys.stderr, flush=True)
        return subprocess.run([sys.executable, "-m", "unittest", "-v", suite] + rest,
                              env=env).returncode
    finally:
        psql(admin_url, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)


if __name__ == "__main__":
    sys.exit(main())
