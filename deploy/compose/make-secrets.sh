#!/usr/bin/env bash
# Create the secrets compose.yaml reads, once, in deploy/compose/secrets/ (mode 0700).
# Keep identity.key safe and backed up: licenses are issued for the deployment id it
# derives, and every replica must use the same key.
set -euo pipefail
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
rand() { openssl rand -hex 24; }
[ -f secrets/identity.key ] || openssl genpkey -algorithm ed25519 -out secrets/identity.key
[ -f secrets/postgres_password ] || rand > secrets/postgres_password
if [ ! -f secrets/nats.env ]; then
  printf 'NATS_SERVER_PASSWORD=%s\nNATS_EXTENSION_PASSWORD=%s\n' "$(rand)" "$(rand)" > secrets/nats.env
fi
if [ ! -f secrets/unitledger.env ]; then
  pg=$(cat secrets/postgres_password)
  nats=$(sed -n 's/^NATS_SERVER_PASSWORD=//p' secrets/nats.env)
  seeds="nats://unitledger:$nats@nats-1:4222,nats://unitledger:$nats@nats-2:4222,nats://unitledger:$nats@nats-3:4222"
  {
    echo "UNITLEDGER_DATABASE_URL=postgresql://unitledger:$pg@postgres:5432/unitledger"
    echo "UNITLEDGER_NATS_URL=$seeds"
    echo "UNITLEDGER_ADMIN_TOKEN=ul_admin_$(rand)"
  } > secrets/unitledger.env
fi
if [ ! -f secrets/vendor.pub ]; then
  echo "Copy the license vendor's public key (PEM) to $(pwd)/secrets/vendor.pub" >&2
fi
echo "secrets in $(pwd)/secrets; the admin token is UNITLEDGER_ADMIN_TOKEN in secrets/unitledger.env"
