#!/usr/bin/env bash
# Mide las acciones de los niveles sobre SQLite, sin servidor de correo: ingresa N+1 solicitudes,
# vincula N como hijas de la primera (`case link`), soluciona la madre (`case solve`: una sola
# transacción con N+1 casos, N+1 soluciones, la muestra de validación y los avisos), y mide el
# reporte y la consulta de vencidos. Imprime segundos y memoria máxima de cada paso.
# Uso: bash deploy/dev/bench-levels.sh [N]   (por defecto 200; binario release)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-200}
cargo build --release --quiet
bin=$PWD/target/release/mesa-fe
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '[general]\ndirectorio_estado = "%s/estado"\n' "$work" > "$work/mesa-fe.toml"
python3 - "$work/correos" "$((n + 1))" <<'PY'
import os, sys
out, total = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
for i in range(1, total + 1):
    with open(f"{out}/{i:05}.eml", "w") as f:
        f.write(f"From: Cliente {i} <c{i}@clientes.example>\r\nTo: sd_facturaelectronica@dian.gov.co\r\n"
                f"Subject: Factura FEV{i:05} no aparece\r\nMessage-ID: <bench.levels.{i}@clientes.example>\r\n"
                f"Date: Thu, 26 Nov 2026 10:00:00 -0500\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                f"Consulta sobre la factura FEV{i:05} del NIT 900.123.456-7: el adquiriente no la ve.\r\n")
PY
measure() { /usr/bin/time -f "%e s, %M KiB máx." "$@" 2>&1 >/dev/null | tail -1; }
cfg=(--config "$work/mesa-fe.toml")
echo "ingest de $((n + 1)) solicitudes:      $(measure "$bin" "${cfg[@]}" ingest "$work"/correos/*.eml)"
year=$("$bin" "${cfg[@]}" case list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["number"][3:7])')
parent="FE-$year-000001"
start=$(date +%s.%N)
for i in $(seq 2 $((n + 1))); do
    "$bin" "${cfg[@]}" case link "$(printf "FE-%s-%06d" "$year" "$i")" "$parent" --agente ana.rojas@dian.gov.co >/dev/null
done
echo "case link ×$n (un proceso cada uno):   $(python3 -c "import time,sys; print(f'{(time.time()-$start):.2f} s')")"
echo "case solve de la madre con $n hijas:  $(measure "$bin" "${cfg[@]}" case solve "$parent" --agente ana.rojas@dian.gov.co --texto "Se corrigió el portal.")"
echo "reporte --formato json:               $(measure "$bin" "${cfg[@]}" reporte --formato json)"
echo "case list --vencidos:                 $(measure "$bin" "${cfg[@]}" case list --vencidos)"
"$bin" "${cfg[@]}" outbox list --estado pendiente --json |
    python3 -c 'import json,sys,collections; print("cola:", dict(collections.Counter(r["kind"] for r in json.load(sys.stdin))))'
