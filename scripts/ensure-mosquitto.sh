#!/usr/bin/env bash
# Make sure a Mosquitto broker binary is available (Debian package `mosquitto`, 2.0.x).
# Quiet and quick when it is already installed; installs it (plus mosquitto-clients, handy for
# debugging) with apt-get when running as root. Exit 0 when mosquitto is available, 1 otherwise.
set -euo pipefail

find_mosquitto() {
  command -v mosquitto 2>/dev/null && return 0
  [[ -x /usr/sbin/mosquitto ]] && { echo /usr/sbin/mosquitto; return 0; }
  return 1
}

if find_mosquitto >/dev/null; then
  exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
  echo "ensure-mosquitto: mosquitto is not installed and we are not root." >&2
  echo "  Install it with: sudo apt-get install mosquitto mosquitto-clients" >&2
  exit 1
fi

echo "ensure-mosquitto: installing the Debian packages mosquitto and mosquitto-clients ..." >&2
if ! apt-get update -qq \
  || ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients >/dev/null; then
  echo "ensure-mosquitto: apt-get failed to install mosquitto (see the output above)." >&2
  exit 1
fi

if path=$(find_mosquitto); then
  echo "ensure-mosquitto: installed $("$path" -h 2>/dev/null | head -n 1)" >&2
  exit 0
fi
echo "ensure-mosquitto: apt-get finished but no mosquitto binary is on PATH or in /usr/sbin." >&2
exit 1
