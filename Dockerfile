# One image for every citywatch process of docker-compose.yml (ingest, streams worker, simulator);
# the compose service picks the command.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package needs (not .venv/, .services/, tests/): the pinned dependencies of
# pyproject.toml install from wheels, so the image needs no compiler. cities/ and scenarios/ come
# first: citywatch/shipped/ links to them and the install copies them into the package.
COPY pyproject.toml ./
COPY cities ./cities
COPY scenarios ./scenarios
COPY citywatch ./citywatch
COPY devices ./devices
COPY gateway ./gateway
COPY jt808 ./jt808
COPY ingest ./ingest
COPY rules ./rules
COPY streams ./streams
COPY tickets ./tickets
COPY dashboards ./dashboards
RUN pip install . \
    && rm -rf build ./*.egg-info

RUN useradd --create-home --home-dir /home/citywatch --uid 10001 --user-group citywatch \
    && mkdir -p /data /home/citywatch/faust \
    && chown citywatch:citywatch /data /home/citywatch/faust

# An installed citywatch keeps its data in CITYWATCH_DATA_DIR (the ticket database, dead letters,
# worker state): /data is a named volume. The city is the demo city until the operator mounts theirs.
ENV CITYWATCH_CITY_DIR=/app/cities/demo \
    CITYWATCH_DATA_DIR=/data \
    CITYWATCH_FAUST_DATA_DIR=/home/citywatch/faust

USER citywatch
CMD ["citywatch", "--help"]
