#!/usr/bin/env bash
# mesa-fe de punta a punta en esta máquina: levanta la pila de correo local (Dovecot + Postfix),
# arranca el servicio sobre SQLite, envía por SMTP unos correos de ejemplo a los buzones y muestra
# los casos que resultan y las respuestas que salen por SMTP. Abre también la consola web: imprime
# su dirección y un enlace de entrada para el agente de ejemplo, leído de su buzón. Luego sigue
# mostrando el registro del servicio hasta Ctrl+C.
# Uso: bash deploy/dev/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

# La demostración empieza de cero: se dice antes qué se borra de una ejecución anterior.
stack_dir=${MESA_FE_MAILSTACK_DIR:-/tmp/mesa-fe-mailstack}
if [ -d "$stack_dir" ]; then
    echo "Aviso: se reinicia la pila de correo de $stack_dir (start --fresh): se borran sus buzones y su cola."
fi
if [ -d estado-dev ]; then
    echo "Aviso: se borra estado-dev/ (base de datos y registro de la ejecución anterior)."
fi
bash deploy/dev/mailstack.sh start --fresh
eval "$(bash deploy/dev/mailstack.sh env)"
cargo build --release --quiet
bin=target/release/mesa-fe
config=deploy/dev/mesa-fe.dev.toml
# La consola web la sirve el servidor HTTP del servicio: sin [http] en la configuración de
# desarrollo (una copia local anterior) se le agrega, en el puerto de siempre.
if ! grep -q '^\[http\]' "$config"; then
    echo "Aviso: $config no tiene [http]; se agrega direccion = \"127.0.0.1:9464\" para la consola."
    printf '\n[http]\ndireccion = "127.0.0.1:9464"\n' >> "$config"
fi
http_address=$(sed -n '/^\[http\]/,/^\[/{s/^direccion *= *"\(.*\)"/\1/p}' "$config" | head -n 1)
http_address=${http_address:-127.0.0.1:9464}
console="http://$http_address/consola"
sample_agent=ana.rojas@dian.gov.co
log=estado-dev/mesa-fe.log
rm -rf estado-dev
mkdir -p estado-dev
"$bin" check-config --config "$config"

"$bin" run --config "$config" 2>"$log" &
daemon=$!
trap 'kill -TERM "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null || true' EXIT

# Sale con error y muestra por qué si el servicio ya no corre: sin esto, un servicio que murió al
# arrancar (un puerto ocupado, una credencial) se ve como "No hay casos.".
service_alive() {
    kill -0 "$daemon" 2>/dev/null && return 0
    local code=0
    wait "$daemon" || code=$?
    echo "El servicio se detuvo (código $code). Errores de su registro ($log):" >&2
    grep -E 'ERROR|WARN|mesa-fe:' "$log" >&2 || tail -n 20 "$log" >&2
    trap - EXIT
    exit 1
}

# Listo = conectado a cada buzón con [buzones.imap]; hasta 30 s.
buzones=$(grep -c '^\[buzones.imap\]' "$config")
echo "== Esperando que el servicio se conecte a $buzones buzones =="
ready=0
for _ in $(seq 1 150); do
    service_alive
    if [ "$(grep -c 'conectado al buzón' "$log" || true)" -ge "$buzones" ]; then
        ready=1
        break
    fi
    sleep 0.2
done
if [ "$ready" != 1 ]; then
    echo "El servicio no se conectó a los $buzones buzones en 30 s. Últimas líneas de $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
fi

echo "== Enviando correos de ejemplo por SMTP (127.0.0.1:$MESA_FE_MAILSTACK_SMTP_PORT) =="
python3 - "$MESA_FE_MAILSTACK_SMTP_PORT" tests/fixtures/mail/01_proveedor_zip_attacheddocument.eml \
    tests/fixtures/mail/02_contribuyente_texto_sin_requisitos.eml \
    tests/fixtures/mail/16_respuesta_dian_rechazo_independiente.eml <<'PY'
import email, email.policy, smtplib, sys
port = int(sys.argv[1])
with smtplib.SMTP("127.0.0.1", port) as smtp:
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            raw = f.read()
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        rcpt = "sd_fistrib_fe_aliados@dian.gov.co" if "01_" in path else "sd_facturaelectronica@dian.gov.co"
        smtp.sendmail(msg.get("Return-Path", "x@pt.example").strip("<>") or "x@pt.example", [rcpt], raw)
        print(f"  enviado {path} → {rcpt}")
PY

echo "== Esperando los casos =="
for _ in $(seq 1 100); do
    service_alive
    count=$("$bin" case list --config "$config" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    [ "$count" -ge 3 ] && break
    sleep 0.2
done
"$bin" case list --config "$config"
echo
echo "== Respuestas enviadas por SMTP desde el mismo buzón =="
for _ in $(seq 1 50); do
    service_alive
    pending=$("$bin" outbox list --config "$config" --estado pendiente --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    [ "$pending" -eq 0 ] && break
    sleep 0.2
done
"$bin" outbox list --config "$config"
echo "(las de remitentes externos llegan al buzón comodín catchall@fe.test de la pila)"
echo
echo "== Consola web: $console =="
echo "Se entra con un enlace de un solo uso que llega al correo del agente. Para el agente de ejemplo"
echo "($sample_agent, nivel 2 de factura; su correo cae en catchall@fe.test de la pila) se pide aquí:"
if link=$(python3 deploy/dev/enlace-consola.py "$sample_agent" "http://$http_address"); then
    echo
    echo "  Abra en el navegador (vale 15 minutos, una vez) y pulse «Entrar»:"
    echo "  $link"
else
    echo "  (no se obtuvo el enlace; el registro $log dice por qué)"
fi
echo
echo "Otro enlace, u otro agente o coordinador (p. ej. coord.factura@dian.gov.co):"
echo "  eval \"\$(bash deploy/dev/mailstack.sh env)\"; python3 deploy/dev/enlace-consola.py CORREO http://$http_address"
echo "(o escriba el correo en $console y lea el enlace en el buzón catchall@fe.test de la pila)"
echo
echo "Registro del servicio (Ctrl+C para detenerlo):"
tail -n +1 -f estado-dev/mesa-fe.log
