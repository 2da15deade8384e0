"""The reliability suite: `make reliability` (python -m tests.reliability).

A concurrent soak of every function on the harness's own embedded Postgres while it kills
the database's connections and restarts the server, then the schemathesis fuzzing and the
tenant isolation matrix; one table of figures and one summary line. docs/reliability.md
says what is checked and how to run it.
"""
