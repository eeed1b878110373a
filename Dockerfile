# Production image: no embedded PostgreSQL. It refuses to start without, at run time:
#   DATABASE_URL              postgresql://user:password@host:5432/onward
#   ONWARD_SIGNING_KEY_FILE   an ES256 private key (PEM), e.g. a mounted secret
#   ONWARD_ISSUER             the public https URL clients reach (never guessed from 0.0.0.0)
# and usually ONWARD_ALLOWED_HOSTS (defaults to the issuer's host). See docs/operations.md.
FROM python:3.11-slim AS build
WORKDIR /src
# The runtime set exactly as locked (versions and hashes; no resolver at build time), in a
# layer of its own that a change to the code does not rebuild; then Onward without deps.
COPY requirements/runtime.lock ./requirements/
RUN python -m venv /opt/onward \
 && /opt/onward/bin/pip install --no-cache-dir --disable-pip-version-check \
      --require-hashes --no-deps -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY app ./app
RUN /opt/onward/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /srv/onward onward
COPY --from=build /opt/onward /opt/onward
WORKDIR /srv/onward
COPY --chown=onward:onward migrations ./migrations
COPY --chown=onward:onward alembic.ini ./
USER onward
ENV PATH=/opt/onward/bin:$PATH \
    ONWARD_ENVIRONMENT=production \
    ONWARD_DATA_DIR=/srv/onward/data \
    PYTHONUNBUFFERED=1
EXPOSE 8000
# The probe names the issuer's host: any other Host header is refused (400).
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import os,urllib.parse as p,urllib.request as r; r.urlopen(r.Request('http://127.0.0.1:8000/healthz', headers={'Host': p.urlsplit(os.environ['ONWARD_ISSUER']).netloc}))" || exit 1
# DATABASE_URL, ONWARD_SIGNING_KEY_FILE and an https ONWARD_ISSUER must be provided at run
# time (production refuses to start without them). Each replica migrates at start under a
# PostgreSQL advisory lock, so replicas may start together.
CMD ["onward", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
