#!/usr/bin/env bash
# Corre todas las pruebas de mesa-fe: unitarias, de contrato y de integración contra la pila de
# desarrollo local (Dovecot + Postfix + PostgreSQL en 127.0.0.1), que mailstack.sh instala desde apt
# si falta (dovecot-imapd dovecot-lmtpd postfix postgresql) y arranca.
# Uso: bash deploy/dev/test.sh [argumentos de cargo nextest]
set -euo pipefail
cd "$(dirname "$0")/../.."

bash deploy/dev/mailstack.sh start
eval "$(bash deploy/dev/mailstack.sh env)"

if cargo nextest --version >/dev/null 2>&1; then
    exec cargo nextest run --no-fail-fast "$@"
fi
echo "cargo-nextest no está instalado; se usa cargo test (pruebas de la pila una a la vez)" >&2
exec cargo test --no-fail-fast "$@" -- --test-threads=1
