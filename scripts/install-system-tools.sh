#!/usr/bin/env bash
# Installs the real tools the integration tests use, only when missing (idempotent).
# Only `make test` runs this; `make plan` needs none of them (and no root).
#   etcd, etcdctl  - Debian etcd-server / etcd-client (a real etcd cluster on 127.0.0.1)
#   cloud-init     - `cloud-init schema` on every rendered user-data
#   kubectl        - generated kubeconfigs (Debian kubernetes-client when none is present)
#   ShellCheck     - every rendered boot script
#   openssl, curl  - certificate and boot-script checks
#   rsvg-convert   - renders the `graph --format html` drawing (Debian librsvg2-bin)
#   nft            - the nftables rules nodes load at boot (`nft -c`)
#   systemd-analyze - `systemd-analyze verify` on every rendered unit (Debian systemd)
set -euo pipefail

missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v cloud-init >/dev/null 2>&1 || missing+=(cloud-init)
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v rsvg-convert >/dev/null 2>&1 || missing+=(librsvg2-bin)
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || missing+=(nftables)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)

[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-system-tools: the tests need Debian packages that are missing: ${missing[*]}" >&2
    echo "  as root: apt-get install --no-install-recommends ${missing[*]}" >&2
    echo "  (only 'make test' needs them; 'make plan' works without)" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-tools: no apt-get here; install these for the tests: ${missing[*]}" >&2
  echo "  (only 'make test' needs them; 'make plan' works without)" >&2
  exit 1
fi
echo "setup: installing the test tools with apt: ${missing[*]} (about a minute)" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends keeps cloud-init from pulling in network managers;
# policy-rc.d stops the package's own etcd service from starting on this host.
[ -e /usr/sbin/policy-rc.d ] && had_policy=1 || had_policy=0
[ "$had_policy" = 1 ] || printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
$SUDO chmod +x /usr/sbin/policy-rc.d
[ "$had_policy" = 1 ] || trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
