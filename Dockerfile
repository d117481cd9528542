# syntax=docker/dockerfile:1
# One image, two commands:
#   API:     python -m api      (port 8000; GET /healthz, /readyz, /metrics)
#   worker:  python -m worker   (metrics and /healthz on DESK_WORKER_METRICS_PORT, 9464)
# plus the `desk` CLI for the one-shot set-up: `desk temporal setup`, `desk db upgrade`.
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when they change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The application. Installed in place (editable) because `desk db upgrade` runs the
# Alembic history from /app/migrations, beside the package.
# Bytecode is compiled here because the running user cannot write /app: without .pyc
# files the worker's workflow sandbox would compile the workflow modules for every new
# workflow (measured: a third of the worker's CPU; bench/RESULTS.md).
COPY . .
RUN pip install --no-deps -e . \
    && python -m compileall -q api.py worker.py desk workflows activities migrations \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin desk \
    && mkdir -p /var/lib/desk/uploads \
    && chown -R desk:desk /var/lib/desk

USER desk

ENV DESK_ENV=prod \
    DESK_LOG_FORMAT=json \
    DESK_API_HOST=0.0.0.0 \
    DESK_API_PORT=8000 \
    DESK_WORKER_METRICS_HOST=0.0.0.0 \
    DESK_WORKER_METRICS_PORT=9464 \
    DESK_UPLOAD_DIR=/var/lib/desk/uploads

EXPOSE 8000 9464
VOLUME ["/var/lib/desk/uploads"]

# The API by default; the worker is `python -m worker`. Both drain on SIGTERM (the API
# finishes in-flight requests, the worker its running activities, up to 30 s): give
# them a stop timeout above that (compose: stop_grace_period).
CMD ["python", "-m", "api"]
