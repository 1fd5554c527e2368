#!/usr/bin/env python3
"""What counting tasks by state costs on the SQLite store, and what keeping the count costs.

    python3 bench/sqlite_counts.py [build/imagegate] [TASKS]

Makes a data directory with the binary (so the schema is the binary's own, migrations and
triggers included), then:

1. fills it with TASKS finished tasks (1,000,000 by default) and 1,000 in flight, and times
   the store's count statement (`kCountByState` of src/store/sqlite/statements.hpp, copied
   below) against the `GROUP BY state` it replaced on 2026-12-04: the median of 20 runs each,
   warm cache;
2. times, per statement, the writes of a task's life (an insert, a one-row claim, a
   completion) in transactions of 64 with migration 9's triggers and without them
   (`temp_store = MEMORY`, as the store sets it): the median of 3 runs of 20,000 statements.

Python's sqlite3 module adds its own few µs to every statement; the differences are what
count. See docs/benchmarks.md.
"""
import glob
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

COUNT = ("SELECT 'queued', COUNT(*) FROM tasks WHERE state = 'queued' "
         "UNION ALL SELECT 'running', COUNT(*) FROM tasks WHERE state = 'running' "
         "UNION ALL SELECT state, n FROM task_counts")
GROUP_BY = "SELECT state, COUNT(*) FROM tasks GROUP BY state"
TRIGGERS = ("tasks_count_enter", "tasks_count_leave", "tasks_count_delete")
REQUEST = '{"model":"gpt-image-2-text-to-image","prompt":"a fairly ordinary prompt"}'


def median_ms(db, sql, runs=20):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        db.execute(sql).fetchall()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def counts(path, tasks):
    db = sqlite3.connect(path)
    db.execute(f"""INSERT INTO tasks (id, dialect, request_json, state, created_ms, updated_ms,
        completed_ms) WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n
        WHERE i + 1 < {tasks}) SELECT 'done-' || i, 'jobs', '{REQUEST}',
        CASE WHEN i % 50 = 0 THEN 'failed' WHEN i % 101 = 0 THEN 'cancelled'
        ELSE 'succeeded' END, 1700000000000 + i, 1, 1 FROM n""")
    db.execute("""INSERT INTO tasks (id, dialect, request_json, state, created_ms, updated_ms)
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < 1000)
        SELECT 'live-' || i, 'jobs', '{}', CASE WHEN i % 2 = 0 THEN 'queued' ELSE 'running'
        END, 1800000000000 + i, 1 FROM n""")
    # Inserted rows fire no trigger (the store inserts no finished task): count them once,
    # as the migration does.
    db.execute("UPDATE task_counts SET n = (SELECT COUNT(*) FROM tasks "
               "WHERE tasks.state = task_counts.state)")
    db.commit()
    new, old = sorted(db.execute(COUNT).fetchall()), sorted(db.execute(GROUP_BY).fetchall())
    if new != old:
        sys.exit(f"the counts differ: {new} against {old}")
    print(f"1. counts of {tasks:,} finished tasks and 1,000 in flight: {new}")
    for _ in range(2):
        print(f"   GROUP BY state {median_ms(db, GROUP_BY):8.3f} ms"
              f"   the store's count {median_ms(db, COUNT):8.3f} ms")
    db.close()


def writes(base, op, keep, n=20000, per=64):
    work = base + ".copy"
    for f in glob.glob(work + "*"):
        os.remove(f)
    shutil.copy(base, work)
    db = sqlite3.connect(work, isolation_level=None)
    db.execute("PRAGMA temp_store = MEMORY")
    if not keep:
        for t in TRIGGERS:
            db.execute(f"DROP TRIGGER {t}")
    if op == "insert":
        t = time.perf_counter()
        for i in range(0, n, per):
            db.execute("BEGIN")
            for j in range(i, i + per):
                db.execute("INSERT INTO tasks (id, dialect, request_json, state, created_ms, "
                           "updated_ms) VALUES (?, 'jobs', ?, 'queued', ?, 1)",
                           (f"w-{j}", REQUEST, 1900000000000 + j))
            db.execute("COMMIT")
        return (time.perf_counter() - t) / n * 1e6
    start = "queued" if op == "claim" else "running"
    db.execute(f"""INSERT INTO tasks (id, dialect, request_json, state, created_ms, updated_ms)
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {n})
        SELECT 'w-' || i, 'jobs', '{{}}', '{start}', 1900000000000 + i, 1 FROM n""")
    rows = [r[0] for r in db.execute("SELECT row_id FROM tasks")]
    # As kClaimTasks and kCompleteTask write them: a claim sets no completed_ms.
    sql = ("UPDATE tasks SET state = 'running', attempt = 1, updated_ms = 5 WHERE row_id = ?"
           if op == "claim" else
           "UPDATE tasks SET state = 'succeeded', completed_ms = 5, updated_ms = 5 "
           "WHERE row_id = ?")
    t = time.perf_counter()
    for i in range(0, len(rows), per):
        db.execute("BEGIN")
        for r in rows[i:i + per]:
            db.execute(sql, (r,))
        db.execute("COMMIT")
    db.close()
    return (time.perf_counter() - t) / len(rows) * 1e6


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "build/imagegate"
    tasks = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    with tempfile.TemporaryDirectory() as work:
        subprocess.run([binary, "keys", "create", "--name", "bench", "--data-dir", work],
                       check=True, capture_output=True)
        base = os.path.join(work, "imagegate.db")
        empty = os.path.join(work, "empty.db")
        shutil.copy(base, empty)
        counts(base, tasks)
        print("2. the writer's cost of the triggers, µs per statement (transactions of 64)")
        for op in ("insert", "claim", "complete"):
            without = statistics.median(writes(empty, op, False) for _ in range(3))
            with_ = statistics.median(writes(empty, op, True) for _ in range(3))
            print(f"   {op:<9} without {without:6.2f}   with {with_:6.2f}")


if __name__ == "__main__":
    main()
