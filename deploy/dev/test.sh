#!/usr/bin/env bash
# Corre todas las pruebas de mesa-fe: unitarias, de contrato y de integración contra la pila de
# desarrollo local (Dovecot + Postfix + PostgreSQL en 127.0.0.1), que mailstack.sh instala desde apt
# si falta (dovecot-imapd dovecot-lmtpd postfix postgresql, y chromium chromium-driver para las
# pruebas de la consola en un navegador real) y arranca.
#
# La suite corre dos veces, una por backend de la base de datos (issue 13): primero sobre SQLite y
# después sobre PostgreSQL (MESA_FE_PRUEBA_BASE=postgres: cada prueba en una base propia del
# PostgreSQL de la pila, tests/common/db.rs). Falla si falla cualquiera de las dos y dice cuál.
# Uso: bash deploy/dev/test.sh [argumentos de cargo nextest, los mismos para las dos corridas]
set -euo pipefail
cd "$(dirname "$0")/../.."

bash deploy/dev/mailstack.sh start
eval "$(bash deploy/dev/mailstack.sh env)"

if cargo nextest --version >/dev/null 2>&1; then
    suite() { cargo nextest run --no-fail-fast "$@"; }
else
    echo "cargo-nextest no está instalado; se usa cargo test (pruebas de la pila una a la vez)" >&2
    suite() { cargo test --no-fail-fast "$@" -- --test-threads=1; }
fi

fallaron=()
for base in sqlite postgres; do
    case $base in sqlite) nombre=SQLite ;; postgres) nombre=PostgreSQL ;; esac
    echo "== pruebas sobre $nombre (MESA_FE_PRUEBA_BASE=$base) =="
    if MESA_FE_PRUEBA_BASE=$base suite "$@"; then
        echo "== pruebas sobre $nombre: bien =="
    else
        echo "== pruebas sobre $nombre: FALLARON ==" >&2
        fallaron+=("$nombre")
    fi
done

if [ ${#fallaron[@]} -gt 0 ]; then
    echo "test.sh: fallaron las pruebas sobre: ${fallaron[*]}" >&2
    exit 1
fi
echo "test.sh: todas las pruebas pasaron sobre SQLite y sobre PostgreSQL"
