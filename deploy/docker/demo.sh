#!/usr/bin/env bash
# The demo image's entry point (deploy/docker/compose.yaml):
#   airlock-demo publish   a demo release team: an offline repository in the demo volume (keys
#                          included: a demo only; a real release team keeps them offline),
#                          one product and release, published through the balancer, and an
#                          enrolment token for the fleet (demo/enrol.token)
#   airlock-demo fleet     simulated devices (airlock-sim soak) that enrol with that token and
#                          check in through the balancer, verifying everything as TUF clients
set -euo pipefail
server=${AIRLOCK_SERVER:-http://balancer:8080}
admin_token=${AIRLOCK_ADMIN_TOKEN_FILE:-/run/secrets/admin_token}
online_pub=${AIRLOCK_ONLINE_PUB:-/run/secrets/online_pub}
product=acme-cam
cd "${AIRLOCK_DEMO_DIR:-/demo}"

case "${1:-}" in
publish)
  if [[ ! -f repo/metadata/1.root.json ]]; then
    airlock init repo --online-key "$online_pub"
    airlock product add repo "$product" --support-start 2025-01-01 --feature-until 2030-06-30 \
      --security-until 2032-12-31 --min-security-version 1
    head -c 1048576 /dev/urandom >fw-1.2.0.bin
    airlock release add repo "$product" fw-1.2.0.bin --version 1.2.0 --security-version 3 --kind security
  fi
  # (publishing the same versions again is accepted unchanged, so a re-run is harmless)
  airlock publish repo --server "$server" --admin-token-file "$admin_token"
  if [[ ! -s enrol.token ]]; then
    airlock enrolment-token create --server "$server" --admin-token-file "$admin_token" \
      --product "$product" --uses "${AIRLOCK_SIM_DEVICES:-200}" | head -1 >enrol.token.new
    mv enrol.token.new enrol.token
  fi
  ;;
fleet)
  AIRLOCK_ENROL_TOKEN=$(cat enrol.token)
  export AIRLOCK_ENROL_TOKEN
  exec airlock-sim soak --server "$server" --trusted-root repo/metadata/1.root.json \
    --product "$product" --state fleet --devices "${AIRLOCK_SIM_DEVICES:-200}" \
    --seconds "${AIRLOCK_SIM_SECONDS:-86400}" --interval "${AIRLOCK_SIM_INTERVAL:-30}"
  ;;
*)
  echo "usage: airlock-demo publish|fleet" >&2
  exit 2
  ;;
esac
