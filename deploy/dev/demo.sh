#!/usr/bin/env bash
# Demostración de mesa-fe sin servidor de correo: ingresa los correos de ejemplo
# (tests/fixtures/mail) a una base SQLite nueva y muestra los casos que resultan.
# Uso: bash deploy/dev/demo.sh   (estado en ./estado-demo, o MESA_FE_DEMO_DIR)
set -euo pipefail
cd "$(dirname "$0")/../.."

state=${MESA_FE_DEMO_DIR:-$PWD/estado-demo}
rm -rf "$state"
mkdir -p "$state"
export MESA_FE__GENERAL__DIRECTORIO_ESTADO="$state"

cargo build --release --quiet
bin=target/release/mesa-fe

"$bin" check-config
echo
echo "== Ingreso de los correos de ejemplo =="
"$bin" ingest tests/fixtures/mail/*.eml tests/fixtures/pipeline/*.eml
echo
echo "== Casos =="
"$bin" case list
first=$("$bin" case list --json | python3 -c 'import json,sys; c=json.load(sys.stdin); print(c[0]["number"] if c else "")')
if [ -n "$first" ]; then
    echo
    echo "== Detalle de $first =="
    "$bin" case show "$first"
fi
echo
echo "== Cuarentena =="
"$bin" quarantine list
echo
echo "Base de datos: $state/mesa-fe.db"
