#!/usr/bin/env bash
# Mide el rendimiento de la cola de salida contra el Postfix local: encola N casos con
# `mesa-fe ingest` (cada uno deja un acuse y una notificación), arranca el servicio y cronometra
# hasta que todo quede `enviado`. Imprime mensajes/s. Uso: bash deploy/dev/bench-outbox.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-300}
bash deploy/dev/mailstack.sh start >/dev/null
eval "$(bash deploy/dev/mailstack.sh env)"
cargo build --release --quiet
# The binary cargo just built, wherever CARGO_TARGET_DIR puts it.
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/mesa-fe
work=$(mktemp -d)
trap 'kill -TERM "${daemon:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
sed "s|directorio_estado = \"estado-dev\"|directorio_estado = \"$work/estado\"|; s|carpeta = \"INBOX\"||" \
    deploy/dev/mesa-fe.dev.toml > "$work/mesa-fe.toml"
python3 - "$work/correos" "$n" <<'PY'
import os, sys
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
for i in range(n):
    with open(f"{out}/{i:05}.eml", "w") as f:
        f.write(f"From: Proveedor {i} <p{i}@pt.example>\r\nTo: sd_facturaelectronica@dian.gov.co\r\n"
                f"Subject: Consulta FB{i:06}\r\nMessage-ID: <bench.outbox.{i}@pt.example>\r\n\r\n"
                f"La factura FB{i:06} del NIT 900.481.236-1 no le llega al cliente. ¿Qué revisamos?\r\n")
PY
"$bin" ingest --config "$work/mesa-fe.toml" "$work"/correos/*.eml >/dev/null
rows=$("$bin" outbox list --config "$work/mesa-fe.toml" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
start=$(date +%s.%N)
"$bin" run --config "$work/mesa-fe.toml" 2>"$work/log" &
daemon=$!
while :; do
    pending=$("$bin" outbox list --config "$work/mesa-fe.toml" --estado pendiente --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    [ "$pending" -eq 0 ] && break
    sleep 0.2
done
end=$(date +%s.%N)
python3 -c "import sys; r=$rows; t=$end-$start; print(f'cola de salida: {r} correos enviados en {t:.2f} s = {r/t:.0f} mensajes/s (Postfix local, STARTTLS + AUTH, conexiones reutilizadas: conexiones_smtp del archivo, 4 por omisión)')"
