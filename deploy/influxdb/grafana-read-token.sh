#!/bin/bash
# Makes the InfluxDB token Grafana uses: it may only read the citywatch bucket (no writes, no other
# bucket, no admin API), so Grafana never holds the admin token.
#
# docker-compose.yml mounts this file into the influxdb:2.7 image's /docker-entrypoint-initdb.d/.
# The image's entrypoint runs such *.sh scripts (as root, with run-parts: the file must stay
# executable) once, right after its first setup, against a temporary server, with the influx CLI
# logged in as the operator (admin token) and DOCKER_INFLUXDB_INIT_BUCKET_ID in the environment.
# The token is written to GRAFANA_READ_TOKEN_FILE (the influxdb-grafana-token volume, which Grafana
# mounts read-only and reads through $__file{...}). The token is never printed.
#
# To make a new one later (e.g. after removing that volume), run it again by hand:
#   docker compose exec influxdb /docker-entrypoint-initdb.d/grafana-read-token.sh
#   docker compose restart grafana
# (then delete the old authorization: `docker compose exec influxdb influx auth list`, `influx auth delete --id ...`).
set -euo pipefail

org="${DOCKER_INFLUXDB_INIT_ORG:?DOCKER_INFLUXDB_INIT_ORG is not set}"
bucket="${DOCKER_INFLUXDB_INIT_BUCKET:?DOCKER_INFLUXDB_INIT_BUCKET is not set}"
user="${DOCKER_INFLUXDB_INIT_USERNAME:?DOCKER_INFLUXDB_INIT_USERNAME is not set}"
token_file="${GRAFANA_READ_TOKEN_FILE:?GRAFANA_READ_TOKEN_FILE is not set}"

# The entrypoint exports the bucket's id after setup; a run by hand looks it up.
bucket_id="${DOCKER_INFLUXDB_INIT_BUCKET_ID:-}"
if [ -z "${bucket_id}" ]; then
    bucket_id="$(influx bucket list --org "${org}" --name "${bucket}" --hide-headers | cut -f 1)"
fi
if [ -z "${bucket_id}" ]; then
    echo "grafana-read-token: no bucket ${bucket} in org ${org}" >&2
    exit 1
fi

# --read-bucket takes the bucket's id; no other permission is asked for.
created="$(influx auth create --org "${org}" --user "${user}" --read-bucket "${bucket_id}" \
    --description "grafana: read ${bucket}" --json)"
token="$(printf '%s\n' "${created}" | sed -n 's/^[[:space:]]*"token":[[:space:]]*"\([^"]*\)".*$/\1/p')"
auth_id="$(printf '%s\n' "${created}" | sed -n 's/^[[:space:]]*"id":[[:space:]]*"\([^"]*\)".*$/\1/p')"
if [ -z "${token}" ]; then
    echo "grafana-read-token: influx auth create returned no token" >&2
    exit 1
fi

# Write beside the target and rename, so Grafana never reads half a file. Readable by Grafana's
# user (the volume is shared with Grafana only).
mkdir -p "$(dirname "${token_file}")"
tmp="$(mktemp "${token_file}.XXXXXX")"
printf '%s\n' "${token}" >"${tmp}"
chmod 0444 "${tmp}"
mv -f "${tmp}" "${token_file}"
echo "grafana-read-token: authorization ${auth_id} may read bucket ${bucket} (${bucket_id}); token in ${token_file}"
