# The all-in-one service for Cloud Run (or any container host): every function at
# /functions/v1/<name>, plus /health and /openapi.json; no console.
#
# Docker is not available where this project is tested. tests/deployed.py carries out this
# file's COPY and RUN lines on the build context (.dockerignore) with a venv of
# requirements.txt alone, and tests/test_deploy.py starts its CMD against a real database.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8080

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

# The one entry point and the deployed modules (.dockerignore leaves functions/local, the
# local development server and console, out of the context). They are compiled here, as pip
# compiled the dependencies: PYTHONDONTWRITEBYTECODE (and a user who may not write) would
# otherwise have every cold start compile them from source again.
COPY main.py .
COPY functions/ functions/
RUN python -m compileall -q main.py functions \
    && useradd --system --uid 10001 --no-create-home takeover
USER takeover

# One process, threads for concurrency: each request mostly waits on Postgres. Each
# instance opens at most DATABASE_POOL_SIZE (10) database connections, plus
# HEAVY_READ_POOL_SIZE (2) for heavy reads. Cloud Run's
# --concurrency is these threads (make deploy-plan reads them here).
CMD ["sh", "-c", "exec gunicorn main:app --bind 0.0.0.0:${PORT} --workers 1 --threads 8 --timeout 0"]
