# The all-in-one service for Cloud Run (or any container host): every function at
# /functions/v1/<name>, plus /health and /openapi.json; no console.
#
# Docker is not available where this project is tested. What the tests prove is what this
# file runs: requirements.txt (tests/test_deploy.py keeps it pinned and current) and the
# gunicorn command below, started as a process against a real database.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8080

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY functions/ functions/
# The local development server and console are never deployed. Our modules are compiled
# here, as pip compiled the dependencies: PYTHONDONTWRITEBYTECODE (and a user who may not
# write) would otherwise have every cold start compile them from source again.
RUN rm -rf functions/local && python -m compileall -q functions \
    && useradd --system --uid 10001 --no-create-home takeover
USER takeover

# One process, threads for concurrency: each request mostly waits on Postgres. Each
# instance opens at most DATABASE_POOL_SIZE (10) database connections.
CMD ["sh", "-c", "exec gunicorn functions.app:app --bind 0.0.0.0:${PORT} --workers 1 --threads 8 --timeout 0"]
