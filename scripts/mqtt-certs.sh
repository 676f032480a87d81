#!/usr/bin/env bash
# Make the TLS files of the MQTT broker's 8883 listener with openssl: a private CA, the broker's
# certificate signed by it, and optional client certificates.
#
#   scripts/mqtt-certs.sh DIR [--san DNS:mqtt.example.gov.cn | --san IP:203.0.113.7]... [--client NAME]...
#
# DIR/ca.crt            give it to every client (devices, ingest): CITYWATCH_MQTT_TLS_CA
# DIR/ca.key            the CA's key: keep it offline, it signs every certificate
# DIR/broker.crt, .key  the broker's certificate; SANs mosquitto, localhost, 127.0.0.1 and each --san
#                       (devices must reach the broker under one of these names)
# DIR/client-NAME.crt, .key   a client certificate (CN=NAME), for listeners with require_certificate
#
# Files that exist are kept (re-run with --client to add clients with the same CA); delete
# broker.* to re-issue the broker certificate, e.g. with a new --san. Keys are written 0600. Never
# commit DIR (deploy/mosquitto/certs/ is git-ignored). In compose the broker runs as uid 1883:
#   sudo chown -R 1883:1883 deploy/mosquitto/certs
set -euo pipefail

usage() { echo "usage: $0 DIR [--san DNS:name|IP:addr]... [--client NAME]... [--days N]" >&2; exit 2; }

[[ $# -ge 1 && $1 != -* ]] || usage
dir=$1; shift
sans=(DNS:mosquitto DNS:localhost IP:127.0.0.1)
clients=()
days=825
while [[ $# -gt 0 ]]; do
  case $1 in
    --san) [[ $# -ge 2 ]] || usage; sans+=("$2"); shift 2 ;;
    --client) [[ $# -ge 2 && $2 =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ ]] || usage; clients+=("$2"); shift 2 ;;
    --days) [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || usage; days=$2; shift 2 ;;
    *) usage ;;
  esac
done
command -v openssl >/dev/null || { echo "mqtt-certs: openssl is not installed (apt-get install openssl)" >&2; exit 1; }

umask 077
mkdir -p "$dir"
ext=$(mktemp)
trap 'rm -f "$ext" "$dir"/*.csr' EXIT

# Run openssl quietly; show its output only when it fails.
quiet() {
  local out
  out=$(openssl "$@" 2>&1) || { echo "$out" >&2; echo "mqtt-certs: openssl $1 failed" >&2; return 1; }
}

# Sign DIR/NAME.csr with the CA; the extensions come from $ext.
sign() {
  quiet x509 -req -sha256 -days "$days" -in "$dir/$1.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -extfile "$ext" -out "$dir/$1.crt"
  chmod 0644 "$dir/$1.crt"
}

# Make DIR/NAME.key and a CSR with this common name.
request() {
  quiet req -new -newkey rsa:2048 -nodes -keyout "$dir/$1.key" -subj "/O=citywatch/CN=$2" -out "$dir/$1.csr"
}

if [[ ! -f $dir/ca.key ]]; then
  quiet req -x509 -new -newkey rsa:3072 -nodes -sha256 -days 3650 -keyout "$dir/ca.key" \
    -subj "/O=citywatch/CN=citywatch MQTT CA" -out "$dir/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  chmod 0644 "$dir/ca.crt"
  echo "mqtt-certs: made the CA $dir/ca.crt" >&2
fi

if [[ ! -f $dir/broker.key ]]; then
  request broker mosquitto
  san_list=$(IFS=,; echo "${sans[*]}")
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=$san_list" > "$ext"
  sign broker
  echo "mqtt-certs: made $dir/broker.crt for $san_list" >&2
fi

for name in "${clients[@]}"; do
  [[ -f $dir/client-$name.key ]] && continue
  request "client-$name" "$name"
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=clientAuth" > "$ext"
  sign "client-$name"
  echo "mqtt-certs: made $dir/client-$name.crt" >&2
done
