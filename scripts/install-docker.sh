#!/usr/bin/env bash
# Installs Docker Engine from Debian's packages when it is missing and starts dockerd when it
# is not running. Idempotent: CI and `ferry up` users on a fresh Debian machine can both run it.
set -euo pipefail

if ! command -v dockerd >/dev/null 2>&1 || ! command -v busybox >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-docker: Docker Engine (dockerd) is missing; run as root or: sudo apt-get install docker.io busybox-static" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io busybox-static >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-docker: dockerd is not running; start it with: sudo dockerd &" >&2
    exit 1
  fi
  nohup dockerd >/var/log/ferry-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "install-docker: dockerd did not start; see /var/log/ferry-dockerd.log" >&2; tail -20 /var/log/ferry-dockerd.log >&2; exit 1; }
fi
echo "install-docker: Docker Engine $(docker version --format '{{.Server.Version}}') is running"
