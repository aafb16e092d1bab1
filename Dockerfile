# syntax=docker/dockerfile:1
#
# Caliber: one image for every role. The default command serves the API; the same image
# runs the Celery workers (`caliber worker --queues ...`), beat (`caliber beat`) and the
# migrations (`caliber db upgrade`). docker-compose.yml wires them; docs/deploy.md explains.
#
#   docker build -t caliber:latest .
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" -t caliber:0.1.0 .

# ---------------------------------------------------------------------------------------
# builder: a virtual environment with Caliber and its pinned dependencies (all wheels:
# no compiler needed on linux/amd64)
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /build

# Dependencies first, in their own layer: the runtime dependencies of pyproject.toml
# pinned by constraints.txt (which also pins the dev tools; -c installs none of those).
# A change under src/ then reinstalls only Caliber itself.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install --no-cache-dir -c constraints.txt -r requirements.txt

# Caliber itself: hatchling builds the wheel from src/caliber (the Alembic migrations
# included); README.md is the package's readme, so the build needs it too.
COPY README.md ./
COPY src ./src
RUN pip install --no-cache-dir -c constraints.txt . \
    && caliber --help > /dev/null

# ---------------------------------------------------------------------------------------
# runtime: the venv and a non-root user; no compilers, no build files, no tests
FROM python:3.11-slim AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="Caliber" \
      org.opencontainers.image.description="Scores programmatic-ad exports: FastAPI service, Celery workers and the caliber command line" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="LicenseRef-Proprietary" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim"

# ENVIRONMENT=production: the image serves on 0.0.0.0, so it is production unless told
# otherwise. It refuses to start without FIREBASE_PROJECT_ID and a random SECRET_KEY of
# 32+ characters, and never has dev sign-in (a plain `docker run -p 8000:8000` must not
# publish an API where every request is the development user).
# DATA_DIR (mount a volume there): beat's schedule file, the uploads and exports unless
# AWS_BUCKET_NAME puts them in S3, and the SQLite database unless DATABASE_URL is set.
# MPLCONFIGDIR: matplotlib (PDF charts) keeps its font cache somewhere writable.
ENV ENVIRONMENT=production \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DATA_DIR=/data \
    MPLCONFIGDIR=/tmp/matplotlib

# uid/gid 10001: outside the range of host users; a named volume mounted on /data starts
# as a copy of the image's /data, so it belongs to this user too (a bind mount must be
# chowned to 10001 on the host).
RUN groupadd --system --gid 10001 caliber \
    && useradd --system --no-log-init --uid 10001 --gid caliber \
        --home-dir /home/caliber --create-home --shell /usr/sbin/nologin caliber \
    && install -d -o caliber -g caliber -m 0750 /data

COPY --from=builder /opt/venv /opt/venv

# Settings come from the environment; a .env file in the working directory is read too
# (mount one read-only at /app/.env if you prefer a file).
WORKDIR /app
USER 10001:10001

EXPOSE 8000

# Liveness: GET /health answers 200 while the process serves. TrustedHostMiddleware
# refuses a Host that ALLOWED_HOSTS does not list, so the probe sends the first listed
# name without a wildcard (localhost when ALLOWED_HOSTS is * or unset), and it ignores
# HTTP_PROXY, which an egress proxy for Firebase or OpenAI may set.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import json, os, urllib.request as r; a = os.environ.get('ALLOWED_HOSTS', '').strip(); hosts = json.loads(a) if a.startswith('[') else a.split(','); host = next((h.strip() for h in hosts if h.strip() and '*' not in h), 'localhost'); r.build_opener(r.ProxyHandler({})).open(r.Request('http://127.0.0.1:8000/health', headers={'Host': host}), timeout=4)"]

# Migrations are applied once, before the servers start, by `caliber db upgrade` (the
# compose `migrate` service): several API replicas must not race to migrate.
CMD ["caliber", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-migrate"]
