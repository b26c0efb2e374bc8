# Two stages: wheels are built where compilers are, and the image that runs keeps only Python and
# the installed packages (no build tools, no source tree beyond what pip installed).
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libxml2-dev libxslt1-dev \
 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY easypay ./easypay
COPY engine ./engine
COPY api ./api
COPY jobs ./jobs
COPY workers ./workers
COPY schedules ./schedules
COPY migrations ./migrations
COPY sandbox ./sandbox
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 PORT=8000
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels easypay && rm -rf /wheels
COPY Procfile alembic.ini ./

RUN useradd --create-home easypay
USER easypay
EXPOSE 8000 8899
# The API's liveness; services that run something else from this image (workers, the scheduler)
# turn it off or replace it (docker-compose.yml does).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('PORT', '8000'), timeout=3)"]
CMD ["easypay", "web"]
