FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

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
COPY Procfile alembic.ini ./
RUN pip install .

RUN useradd --create-home easypay
USER easypay
EXPOSE 8000 8899
CMD ["easypay", "web"]
