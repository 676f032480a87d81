# One image for every citywatch process of docker-compose.yml (ingest, streams worker, simulator);
# the compose service picks the command.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package needs (not .venv/, .services/, tests/): the pinned dependencies of
# pyproject.toml install from wheels, so the image needs no compiler.
COPY pyproject.toml ./
COPY citywatch ./citywatch
COPY devices ./devices
COPY ingest ./ingest
COPY rules ./rules
COPY streams ./streams
COPY tickets ./tickets
COPY dashboards ./dashboards
RUN pip install . \
    && rm -rf build ./*.egg-info

# City data and scenarios are read at run time from the working directory.
COPY cities ./cities
COPY scenarios ./scenarios

RUN useradd --create-home --home-dir /home/citywatch --uid 10001 --user-group citywatch \
    && mkdir -p /data /home/citywatch/faust \
    && chown citywatch:citywatch /data /home/citywatch/faust

# Settings default to paths inside the source tree; in the image the package lives in
# site-packages, so point every writable path at /data (a named volume) or the home directory.
ENV CITYWATCH_CITY_DIR=/app/cities/demo \
    CITYWATCH_TICKET_DB=/data/tickets.sqlite \
    CITYWATCH_DEADLETTER_PATH=/data/deadletter.jsonl \
    CITYWATCH_FAUST_DATA_DIR=/home/citywatch/faust

USER citywatch
CMD ["citywatch", "--help"]
