#!/usr/bin/env bash
# Make sure a Mosquitto broker binary is available (Debian package `mosquitto`, 2.0.x, which also
# brings mosquitto_passwd), and openssl for scripts/mqtt-certs.sh (the TLS tests run it; a clean
# Debian 12 image has no openssl binary). Quiet and quick when both are installed; installs what is
# missing (plus mosquitto-clients, handy for debugging) with apt-get when running as root.
# Exit 0 when both are available, 1 otherwise.
set -euo pipefail

find_mosquitto() {
  command -v mosquitto 2>/dev/null && return 0
  [[ -x /usr/sbin/mosquitto ]] && { echo /usr/sbin/mosquitto; return 0; }
  return 1
}

missing=()
find_mosquitto >/dev/null || missing+=(mosquitto mosquitto-clients)
command -v openssl >/dev/null || missing+=(openssl)
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
  echo "ensure-mosquitto: ${missing[*]} not installed and we are not root." >&2
  echo "  Install with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi

echo "ensure-mosquitto: installing the Debian packages ${missing[*]} ..." >&2
if ! apt-get update -qq \
  || ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; then
  echo "ensure-mosquitto: apt-get failed to install ${missing[*]} (see the output above)." >&2
  exit 1
fi

if ! command -v openssl >/dev/null; then
  echo "ensure-mosquitto: apt-get finished but there is no openssl binary on PATH." >&2
  exit 1
fi
if path=$(find_mosquitto); then
  echo "ensure-mosquitto: mosquitto $("$path" -h 2>/dev/null | head -n 1)" >&2
  exit 0
fi
echo "ensure-mosquitto: apt-get finished but no mosquitto binary is on PATH or in /usr/sbin." >&2
exit 1
