#!/usr/bin/env bash
# Corre todas las pruebas de mesa-fe (unitarias, de integración y de contrato).
# Uso: bash deploy/dev/test.sh [argumentos de cargo nextest]
set -euo pipefail
cd "$(dirname "$0")/../.."

if cargo nextest --version >/dev/null 2>&1; then
    exec cargo nextest run --no-fail-fast "$@"
fi
echo "cargo-nextest no está instalado; se usa cargo test" >&2
exec cargo test --no-fail-fast "$@"
