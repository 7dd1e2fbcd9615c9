#!/usr/bin/env bash
# Pila de correo local de mesa-fe, para desarrollo y pruebas de integración (issue 3, puntos 6 y 7).
#
#   Dovecot  IMAP 32143 (texto plano + STARTTLS), IMAPS 32993, LMTP 32024
#            LOGIN/PLAIN con contraseña, XOAUTH2/OAUTHBEARER contra un endpoint de introspección
#   Postfix  SMTP 32025 (sin AUTH desde loopback), submission 32587 (STARTTLS + AUTH), SMTPS 32465
#            entrega por LMTP a Dovecot; nada sale de la máquina (sin DNS, sin SMTP saliente)
#   PostgreSQL 32432: clúster desechable (paquete postgresql de Debian), rol y base `mesa` (clave
#            `mesa`, LOGIN CREATEDB), locale C, fsync off; para el segundo backend (issue 13)
#   Chromium y chromedriver de Debian (paquetes chromium chromium-driver): solo se instalan, para
#            las pruebas de la consola web en un navegador real (tests/console_browser.rs)
#
# Solo escucha en 127.0.0.1 y guarda todo (configuración, certificados, buzones, cola, clúster,
# registros) en un directorio. No lee ni cambia /etc/dovecot, /etc/postfix/main.cf ni
# /etc/postgresql. Hay que correrlo como root (PostgreSQL corre como el usuario postgres).
#
# Uso:
#   mailstack.sh start [--fresh]   instala lo que falte, arranca lo que no corre y espera los puertos
#                                  (--fresh: detiene y vacía el directorio antes)
#   mailstack.sh stop [--purge]    detiene por PID (con los hijos); --purge borra el directorio
#   mailstack.sh status            procesos y puertos; sale con 0 solo si todo responde
#   mailstack.sh env               líneas `export MESA_FE_MAILSTACK_…=` para eval "$(… env)"
#   mailstack.sh restart-dovecot   detiene y vuelve a arrancar solo Dovecot (pruebas de reconexión)
#   mailstack.sh stop-dovecot      detiene solo Dovecot; `start` lo vuelve a levantar
#   mailstack.sh restart-postgres  detiene (apagado rápido: corta las sesiones) y vuelve a arrancar
#                                  solo PostgreSQL, con los mismos datos
#   mailstack.sh stop-postgres     detiene solo PostgreSQL; `start` lo vuelve a levantar
#   mailstack.sh reload-postfix    reescribe la configuración de Postfix y la recarga sin detenerlo
#                                  (una pila arrancada con una versión anterior de este script)
#
# Variables (opcionales; se fijan al arrancar y se guardan en $DIR/settings.env):
#   MESA_FE_MAILSTACK_DIR=/tmp/mesa-fe-mailstack     directorio de estado (ruta absoluta, sin espacios)
#   MESA_FE_MAILSTACK_{IMAP,IMAPS,LMTP,SMTP,SUBMISSION,SMTPS,PG}_PORT
#   MESA_FE_MAILSTACK_PASSWORD=secret                contraseña de todos los usuarios
#   MESA_FE_MAILSTACK_OAUTH_INTROSPECTION=http://127.0.0.1:32080/introspect
#   MESA_FE_MAILSTACK_EXTRA_USERS="a@fe.test b@pt.test"   usuarios adicionales
#   MESA_FE_MAILSTACK_WAIT=30                        segundos de espera por los puertos
#   MESA_FE_MAILSTACK_DEBUG=1                        auth_debug en Dovecot (ver dovecot.log)
set -euo pipefail
umask 022

DIR=${MESA_FE_MAILSTACK_DIR:-/tmp/mesa-fe-mailstack}
MARKER=.mesa-fe-mailstack
T0=${EPOCHREALTIME/./}

# Usuarios. Los buzones son los del config/mesa-fe.example.toml. dian.gov.co es solo un dominio virtual
# local: nunca se consulta DNS ni se entrega fuera. Lo que vaya a otra dirección (otro dominio, u otra
# dirección de dian.gov.co, p. ej. coordinadores) cae en el buzón comodín CATCHALL.
BUZONES="sd_fistrib_fe_aliados@dian.gov.co sd_facturaelectronica@dian.gov.co"
CATCHALL=catchall@fe.test
FIXED_USERS="$BUZONES agente.n2@fe.test agente.n3@fe.test csat@fe.test proveedor1@pt.test $CATCHALL"
# Dominios estrictos: un usuario desconocido se rechaza con 550 en vez de ir al comodín.
STRICT_DOMAINS="fe.test pt.test"
# Dominios que rebotan (issue 14, rebotes): Postfix acepta el correo para cualquier dirección de estos
# dominios y lo entrega por LMTP a Dovecot, que no conoce a nadie ahí y contesta 550 5.1.1; Postfix lo
# devuelve entonces al remitente con su aviso de no entrega (DSN), como ante un servidor remoto que no
# conoce al destinatario. (Con el transporte error: smtpd lo rechazaría ya en el RCPT TO, sin DSN.)
# No va al comodín y nada sale de la máquina.
BOUNCE_DOMAINS="rebota.test"

say()  { echo "mailstack: $*"; }
die()  { echo "mailstack: ERROR: $*" >&2; exit 1; }
show_log() {
  if [ -s "$1" ]; then
    echo "----- últimas líneas de $1 -----" >&2
    tail -n 30 "$1" >&2
    echo "-----" >&2
  fi
}
elapsed() { local us=$(( ${EPOCHREALTIME/./} - T0 )); printf '%d.%02d' $(( us / 1000000 )) $(( us / 10000 % 100 )); }
# valor entre comillas simples, para líneas `export X='…'` que se puedan evaluar
q() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }

# ------------------------------------------------------------------------------------------ ajustes
compute_settings() {
  IMAP_PORT=${MESA_FE_MAILSTACK_IMAP_PORT:-32143}
  IMAPS_PORT=${MESA_FE_MAILSTACK_IMAPS_PORT:-32993}
  LMTP_PORT=${MESA_FE_MAILSTACK_LMTP_PORT:-32024}
  SMTP_PORT=${MESA_FE_MAILSTACK_SMTP_PORT:-32025}
  SUBMISSION_PORT=${MESA_FE_MAILSTACK_SUBMISSION_PORT:-32587}
  SMTPS_PORT=${MESA_FE_MAILSTACK_SMTPS_PORT:-32465}
  PG_PORT=${MESA_FE_MAILSTACK_PG_PORT:-32432}
  PASSWORD=${MESA_FE_MAILSTACK_PASSWORD:-secret}
  OAUTH_URL=${MESA_FE_MAILSTACK_OAUTH_INTROSPECTION:-http://127.0.0.1:32080/introspect}
  EXTRA_USERS=${MESA_FE_MAILSTACK_EXTRA_USERS:-}
}
SETTING_NAMES="IMAP_PORT IMAPS_PORT LMTP_PORT SMTP_PORT SUBMISSION_PORT SMTPS_PORT PG_PORT PASSWORD OAUTH_URL EXTRA_USERS"
# Rol, clave y base de PostgreSQL: fijos, como los exporta `env` (MESA_FE_PRUEBA_POSTGRES).
PG_USER=mesa
PG_PASSWORD=mesa
PG_DB=mesa

validate_settings() {
  local p ports="$IMAP_PORT $IMAPS_PORT $LMTP_PORT $SMTP_PORT $SUBMISSION_PORT $SMTPS_PORT $PG_PORT" u
  for p in $ports; do
    case "$p" in '' | *[!0-9]*) die "puerto no numérico: '$p'" ;; esac
    if [ "$p" -lt 1 ] || [ "$p" -gt 65535 ]; then die "puerto fuera de rango: $p"; fi
  done
  # shellcheck disable=SC2086  # división por palabras buscada
  [ "$(printf '%s\n' $ports | sort -u | wc -l)" = 7 ] || die "puertos repetidos: $ports"
  case "$PASSWORD" in '' | *[[:space:]:]*) die "MESA_FE_MAILSTACK_PASSWORD no puede ser vacía ni tener espacios o ':'" ;; esac
  case "$OAUTH_URL" in
    http://127.0.0.1:* | http://localhost:* | http://\[::1\]:*) ;;
    *) die "MESA_FE_MAILSTACK_OAUTH_INTROSPECTION debe ser http:// en loopback: '$OAUTH_URL'" ;;
  esac
  for u in $EXTRA_USERS; do
    [[ $u =~ ^[a-z0-9._-]+@[a-z0-9-]+(\.[a-z0-9-]+)+$ ]] \
      || die "usuario adicional inválido (minúsculas, local@dominio.tld): '$u'"
  done
}

save_settings() {
  local n
  { echo "# ajustes con los que se arrancó la pila (mailstack.sh); no editar a mano"
    for n in $SETTING_NAMES; do printf '%s=%q\n' "$n" "${!n}"; done
  } > "$DIR/settings.env"
}

# Los ajustes de una pila en marcha mandan: si algo corre, se usan los guardados (y se avisa si el
# entorno pide otra cosa). Si nada corre, se toman del entorno.
load_settings() {
  compute_settings
  if [ -f "$DIR/settings.env" ] && { dovecot_running || postfix_running || postgres_running; }; then
    local n diff=""
    for n in $SETTING_NAMES; do printf -v "WANT_$n" '%s' "${!n}"; done
    # shellcheck disable=SC1091
    . "$DIR/settings.env"
    for n in $SETTING_NAMES; do
      local w="WANT_$n"
      [ "${!w}" = "${!n}" ] || diff="$diff $n"
    done
    [ -z "$diff" ] || say "aviso: la pila ya corre con otros valores de:$diff (se mantienen; use stop y start para cambiarlos)" >&2
  fi
  validate_settings
  port_specs
}

# los ajustes guardados de la pila (o, si nunca arrancó, los del entorno), sin validar ni avisar
saved_settings() {
  compute_settings
  if [ -f "$DIR/settings.env" ]; then
    # shellcheck disable=SC1091
    . "$DIR/settings.env"
  fi
  port_specs
}

all_users() { echo "$FIXED_USERS $EXTRA_USERS" | tr ' ' '\n' | sed '/^$/d' | tr '[:upper:]' '[:lower:]' | sort -u; }

# ------------------------------------------------------------------------------------------ procesos
# PID leído de un archivo, si el proceso vive, no es zombi y se llama $2. (En estas máquinas el PID 1
# recoge huérfanos cada ~2 s: un zombi todavía responde a kill -0.)
pid_alive() { # pid comm
  local stat rest comm
  [ -r "/proc/$1/stat" ] || return 1
  { read -r stat < "/proc/$1/stat"; } 2>/dev/null || return 1
  rest=${stat##*) }
  [ "${rest%% *}" != Z ] || return 1
  [ -z "${2:-}" ] && return 0
  { read -r comm < "/proc/$1/comm"; } 2>/dev/null || return 1
  [ "$comm" = "$2" ]
}
pid_from() { # archivo comm
  local p=""
  [ -f "$1" ] || return 1
  { read -r p < "$1"; } 2>/dev/null || true
  p=${p//[!0-9]/}
  [ -n "$p" ] && pid_alive "$p" "$2" && echo "$p"
}
dovecot_pid() { pid_from "$DIR/dovecot/run/master.pid" dovecot; }
postfix_pid() { pid_from "$DIR/postfix/spool/pid/master.pid" master; }
# El postmaster se llama "postgres", como cualquier otro clúster de la máquina (p. ej. el "main" que
# crea el paquete): el PID reciclado solo cuenta si su directorio de trabajo es nuestro clúster.
postgres_pid() {
  local p
  p=$(pid_from "$DIR/pg/data/postmaster.pid" postgres) || return 1
  [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$DIR/pg/data" ] && echo "$p"
}
dovecot_running() { dovecot_pid >/dev/null; }
postfix_running() { postfix_pid >/dev/null; }
postgres_running() { postgres_pid >/dev/null; }

descendants() { # pid: todos sus descendientes, leyendo /proc (sin depender de procps)
  local f stat rest pid ppid queue="$1" cur
  declare -A kids=()
  for f in /proc/[0-9]*/stat; do
    { read -r stat < "$f"; } 2>/dev/null || continue
    pid=${f#/proc/}; pid=${pid%/stat}
    rest=${stat##*) }; rest=${rest#* }; ppid=${rest%% *}
    kids[$ppid]="${kids[$ppid]:-} $pid"
  done
  while [ -n "${queue// /}" ]; do
    read -r cur queue <<< "$queue"
    for pid in ${kids[$cur]:-}; do echo "$pid"; queue="$queue $pid"; done
  done
}

# Detiene el proceso maestro $1 y sus descendientes y espera a que terminen (10 s, luego SIGKILL).
#   term-master: SIGTERM solo al maestro (Postfix: él detiene a sus hijos, en ~5 ms)
#   term-all:    SIGTERM al maestro y a cada hijo a la vez (Dovecot: cada proceso cierra ordenadamente;
#                solo al maestro, tarda ~1,1 s porque espera a que su proceso "log" se rinda)
#   int-master:  SIGINT solo al maestro (PostgreSQL: apagado "fast", corta las sesiones abiertas; con
#                SIGTERM, el apagado "smart", esperaría a que cada cliente se desconecte)
#   kill-all:    SIGKILL a todo, cuando los datos se van a borrar (start --fresh, stop --purge)
stop_tree() { # pid nombre modo
  local master=$1 all p left now deadline orphaned=""
  all="$master $(descendants "$master" | tr '\n' ' ')"
  # shellcheck disable=SC2086  # $all es una lista de PID
  case "$3" in
    kill-all) kill -KILL $all 2>/dev/null || true ;;
    term-all) kill -TERM $all 2>/dev/null || true ;;
    int-master) kill -INT "$master" 2>/dev/null || true ;;
    *) kill -TERM "$master" 2>/dev/null || true ;;
  esac
  deadline=$(( ${EPOCHREALTIME/./} + 10000000 ))
  while :; do
    left=""
    for p in $all; do pid_alive "$p" && left="$left $p"; done
    [ -z "$left" ] && return 0
    now=${EPOCHREALTIME/./}
    # Sin el maestro, los hijos que quedan ya no tienen trabajo (p. ej. el auth de Dovecot sigue vivo
    # mientras Postfix tenga conexiones SASL abiertas): 1 s de gracia y SIGKILL.
    if ! pid_alive "$master"; then
      [ -n "$orphaned" ] || orphaned=$now
      if [ $(( now - orphaned )) -gt 1000000 ]; then
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
      fi
    fi
    if [ "$now" -ge "$deadline" ]; then
      say "aviso: $2 no terminó en 10 s; SIGKILL a$left" >&2
      # shellcheck disable=SC2086
      kill -KILL $left 2>/dev/null || true
      sleep 0.2
      return 0
    fi
    sleep 0.05
  done
}

# Procesos de esta pila que ya no cuelgan de su maestro (p. ej. de un maestro que murió con kill -9) y
# que podrían seguir ocupando un puerto. Se reconocen sin ambigüedad: los hijos de Dovecot se llaman
# "dovecot-<instance_name>/…", los de Postfix llevan MAIL_CONFIG=$DIR/postfix/etc en su entorno y los
# de PostgreSQL trabajan en $DIR/pg/data (el postmaster hace chdir ahí y los hijos lo heredan). Un
# proceso de PostgreSQL suelto además tendría pegada la memoria compartida del clúster viejo.
strays() { # dovecot|postfix|postgres
  local f
  case "$1" in
    dovecot) f=$(grep -lsz "^dovecot-$(instance_name)/" /proc/[0-9]*/cmdline || true) ;;
    postfix) f=$(grep -lszx "MAIL_CONFIG=$DIR/postfix/etc" /proc/[0-9]*/environ || true) ;;
    # Un solo find (un readlink por proceso tardaba ~1 s). "(deleted)": un clúster cuyo directorio
    # borró otro (un mailstack.sh de antes de PostgreSQL que hizo start --fresh o stop --purge)
    # sigue corriendo y ocupando el puerto.
    postgres)
      f=$(find /proc -mindepth 2 -maxdepth 2 -name cwd \( -lname "$DIR/pg/data" -o -lname "$DIR/pg/data (deleted)" \) \
            2>/dev/null || true)
      ;;
  esac
  # y solo binarios de Dovecot, Postfix o PostgreSQL (nunca, p. ej., un shell con MAIL_CONFIG
  # exportada o parado en el directorio del clúster)
  [ -z "$f" ] || echo "$f" | sed 's|^/proc/||; s|/.*||' | while read -r p; do
    case "$(readlink "/proc/$p/exe" 2>/dev/null)" in
      /usr/sbin/dovecot | /usr/lib/dovecot/* | /usr/lib/postfix/sbin/*) pid_alive "$p" && echo "$p" ;;
      /usr/lib/postgresql/*/bin/postgres) pid_alive "$p" && echo "$p" ;;
    esac
  done
  return 0
}
kill_strays() { # dovecot|postfix|postgres
  local left
  left=$(strays "$1" | tr '\n' ' ')
  [ -n "${left// /}" ] || return 0
  say "$1: procesos sueltos de una ejecución anterior, SIGKILL a $left"
  # shellcheck disable=SC2086
  kill -KILL $left 2>/dev/null || true
  for _ in $(seq 1 40); do
    [ -z "$(strays "$1")" ] && return 0
    sleep 0.05
  done
}
instance_name() { echo "mesa-fe-mailstack-$IMAP_PORT"; }

stop_dovecot() { # [kill]
  local p
  if p=$(dovecot_pid); then stop_tree "$p" dovecot "${1:-term}-all"; say "dovecot detenido (pid $p)"; fi
  kill_strays dovecot
}
stop_postfix() { # [kill]
  local p mode=term-master
  [ "${1:-}" = kill ] && mode=kill-all
  if p=$(postfix_pid); then stop_tree "$p" postfix "$mode"; say "postfix detenido (pid $p)"; fi
  kill_strays postfix
}
stop_postgres() { # [kill]
  local p mode=int-master
  [ "${1:-}" = kill ] && mode=kill-all
  if p=$(postgres_pid); then stop_tree "$p" postgres "$mode"; say "postgres detenido (pid $p)"; fi
  kill_strays postgres
}

# ------------------------------------------------------------------------------------------ puertos
# shellcheck disable=SC2016  # el $1 de los bash -c lo expande el bash hijo
banner() { # puerto: primera línea que manda el servidor
  timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; IFS= read -r -t 2 l <&3 || exit 1; printf "%s" "$l"' _ "$1" 2>/dev/null || true
}
# shellcheck disable=SC2016
port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null; }
tls_ok() { # puerto: TLS implícito verificado contra nuestra CA
  timeout 5 openssl s_client -connect "127.0.0.1:$1" -CAfile "$DIR/tls/ca.pem" -verify_return_error \
    -verify_ip 127.0.0.1 </dev/null 2>/dev/null | grep -q 'Verify return code: 0 (ok)'
}
ready() { # tipo puerto
  case "$1" in
    imap) case "$(banner "$2")" in '* OK'*) return 0 ;; esac; return 1 ;;
    smtp) case "$(banner "$2")" in 220*) return 0 ;; esac; return 1 ;;
    tls) tls_ok "$2" ;;
    # "acepta conexiones" según el propio protocolo (un puerto abierto no basta: durante el arranque
    # y la recuperación el postmaster ya escucha pero rechaza las sesiones)
    pg) [ -x "$PGBIN/pg_isready" ] && "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$2" -t 2 ;;
  esac
}
# tipo:puerto:nombre de lo que cada componente debe tener escuchando
port_specs() {
  DOVECOT_PORTS=("imap:$IMAP_PORT:IMAP" "tls:$IMAPS_PORT:IMAPS" "smtp:$LMTP_PORT:LMTP")
  POSTFIX_PORTS=("smtp:$SMTP_PORT:SMTP" "smtp:$SUBMISSION_PORT:submission" "tls:$SMTPS_PORT:SMTPS")
  POSTGRES_PORTS=("pg:$PG_PORT:PostgreSQL")
}

WAIT=${MESA_FE_MAILSTACK_WAIT:-30}
DEADLINE=0
wait_ports() { # componente log puertos...
  local who=$1 log=$2 spec kind port name; shift 2
  for spec in "$@"; do
    IFS=: read -r kind port name <<< "$spec"
    until ready "$kind" "$port"; do
      if [ "$(date +%s)" -ge "$DEADLINE" ]; then
        show_log "$log"
        die "$who: $name (127.0.0.1:$port) no responde después de ${WAIT} s"
      fi
      sleep 0.05
    done
  done
}

# antes de arrancar un componente: sus puertos deben estar libres
ports_free() { # componente puertos...
  local who=$1 spec kind port name holder; shift
  for spec in "$@"; do
    IFS=: read -r kind port name <<< "$spec"
    if port_open "$port"; then
      holder=""
      command -v ss >/dev/null && holder=$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n 1)
      die "no se puede arrancar $who: el puerto $port ($name) ya está en uso ${holder:+por: $holder}
  (¿otra pila con los mismos puertos? use MESA_FE_MAILSTACK_*_PORT o MESA_FE_MAILSTACK_DIR)"
    fi
  done
}

# ------------------------------------------------------------------------------------------ paquetes
# Binarios de PostgreSQL: Debian los pone por versión mayor, fuera del PATH. Los de la versión del
# clúster si ya existe (un clúster solo arranca con su versión mayor); si no, los de la más nueva.
pg_bin() {
  local v=""
  if [ -f "$DIR/pg/data/PG_VERSION" ]; then
    { read -r v < "$DIR/pg/data/PG_VERSION"; } 2>/dev/null || true
    echo "/usr/lib/postgresql/${v//[!0-9]/}/bin"
    return 0
  fi
  find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1
}
PGBIN=$(pg_bin)

ensure_packages() {
  local f missing="" pkgs=""
  for f in /usr/sbin/dovecot /usr/lib/dovecot/imap /usr/lib/dovecot/lmtp /usr/sbin/postfix /usr/bin/openssl; do
    [ -x "$f" ] || missing="$missing $f"
  done
  # openssl llega como dependencia de dovecot-core y postfix (nombrarlo lo actualizaría sin necesidad)
  [ -z "$missing" ] || pkgs="dovecot-imapd dovecot-lmtpd postfix"
  # Chromium y chromedriver de Debian: las pruebas de la consola web en un navegador real
  # (tests/console_browser.rs) no bajan ningún navegador por su cuenta.
  local browser_missing=""
  for f in /usr/bin/chromium /usr/bin/chromedriver; do
    [ -x "$f" ] || browser_missing="$browser_missing $f"
  done
  if [ -n "$browser_missing" ]; then missing="$missing$browser_missing"; pkgs="$pkgs chromium chromium-driver"; fi
  PGBIN=$(pg_bin)
  if [ ! -x "$PGBIN/initdb" ]; then missing="$missing ${PGBIN:-/usr/lib/postgresql/*/bin}/initdb"; pkgs="$pkgs postgresql"; fi
  [ -z "$missing" ] && return 0
  local cmd="apt-get install -y --no-install-recommends ${pkgs# }"
  say "faltan$missing: se instalan con: $cmd"
  local log=$DIR/apt.log
  apt-get -o DPkg::Lock::Timeout=900 update >"$log" 2>&1 || { show_log "$log"; die "apt-get update falló"; }
  # Sin /usr/sbin/policy-rc.d que lo impida, el paquete postgresql crea y arranca además el clúster
  # "main" del sistema (puerto 5432): no choca con el de la pila, que es otro directorio y puerto.
  # shellcheck disable=SC2086  # lista de paquetes
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends \
    $pkgs >>"$log" 2>&1 \
    || { show_log "$log"; die "apt-get install falló; instálelos a mano: $cmd"; }
  for f in mail postfix dovecot dovenull postgres; do
    id "$f" >/dev/null 2>&1 || die "falta el usuario del sistema '$f' tras instalar los paquetes"
  done
  PGBIN=$(pg_bin)
  [ -x "$PGBIN/initdb" ] \
    || die "falta $PGBIN/initdb tras instalar postgresql (¿el clúster de $DIR/pg es de otra versión mayor? use start --fresh)"
}

# ------------------------------------------------------------------------------------------ TLS
# CA propia + certificado de servidor (CA:FALSE, SAN localhost y 127.0.0.1), una vez por directorio.
# Un único certificado autofirmado (CA:TRUE) lo rechaza rustls/webpki como "CaUsedAsEndEntity".
make_tls() {
  [ -s "$DIR/tls/ca.pem" ] && [ -s "$DIR/tls/chain.pem" ] && [ -s "$DIR/tls/server.key" ] && return 0
  mkdir -p "$DIR/tls"
  (
    cd "$DIR/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -sha256 \
      -subj "/CN=mesa-fe mailstack CA" -keyout ca.key -out ca.pem \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
      -keyout server.key -out server.csr
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" > server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -sha256 \
      -extfile server.ext -out server.pem
    cat server.pem ca.pem > chain.pem
    chmod 600 ca.key server.key
  ) >"$DIR/tls/openssl.log" 2>&1 || { show_log "$DIR/tls/openssl.log"; die "no se pudieron generar los certificados"; }
}

# ------------------------------------------------------------------------------------------ Dovecot
write_dovecot_config() {
  local d=$DIR/dovecot u dh="" debug=no
  mkdir -p "$d/run" "$d/state" "$DIR/mail"
  chown mail:mail "$DIR/mail"
  # passwd-file: usuario:{PLAIN}clave:uid:gid:gecos:home:shell (uid/gid/home salen de default_fields)
  all_users | while read -r u; do printf '%s:{PLAIN}%s::::::\n' "$u" "$PASSWORD"; done > "$d/users"
  chown root:dovecot "$d/users"
  chmod 640 "$d/users"
  [ -f /usr/share/dovecot/dh.pem ] && dh="ssl_dh = </usr/share/dovecot/dh.pem"
  [ "${MESA_FE_MAILSTACK_DEBUG:-0}" = 1 ] && debug=yes

  # XOAUTH2/OAUTHBEARER: Dovecot manda POST token=<token> a la URL y espera JSON como RFC 7662:
  # {"active": true, "username": "<usuario del login>"}. Con otro usuario o active != true, falla.
  cat > "$d/oauth2.conf.ext" <<EOF
# generado por deploy/dev/mailstack.sh
introspection_mode = post
introspection_url = $OAUTH_URL
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
EOF

  cat > "$d/dovecot.conf" <<EOF
# generado por deploy/dev/mailstack.sh: instancia propia, /etc/dovecot no se usa
instance_name = $(instance_name)
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1

ssl = yes
ssl_cert = <$DIR/tls/chain.pem
ssl_key = <$DIR/tls/server.key
ssl_min_protocol = TLSv1.2
$dh

# pruebas en loopback: LOGIN sin TLS permitido, sin demora tras un login fallido
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = 0
auth_verbose = yes
auth_debug = $debug
passdb {
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%Lu $d/users
}
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $d/oauth2.conf.ext
}
userdb {
  # passwd-file (no static) para que "doveadm ... -A" recorra los usuarios
  driver = passwd-file
  args = username_format=%Lu $d/users
  default_fields = uid=mail gid=mail home=$DIR/mail/%Ld/%Ln
}

mail_location = maildir:~/Maildir
first_valid_uid = $(id -u mail)
mail_fsync = never
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no

namespace inbox {
  inbox = yes
  separator = /
  mailbox Procesados {
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
}

protocol imap {
  # 10 por omisión (por usuario e IP); las pruebas abren muchas sesiones a la vez
  mail_max_userip_connections = 200
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
service auth {
  # SASL de Postfix (submission y SMTPS)
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service anvil {
  # sin la penalización de anvil (hasta 15 s de espera tras logins fallidos desde una IP)
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF
}

start_dovecot() {
  ports_free dovecot "${DOVECOT_PORTS[@]}"
  write_dovecot_config
  rm -f "$DIR/dovecot/run/master.pid"
  touch "$DIR/dovecot/dovecot.log"
  # 9>&-: el demonio no debe heredar el candado (flock) de este script
  dovecot -c "$DIR/dovecot/dovecot.conf" >"$DIR/dovecot/start.log" 2>&1 9>&- </dev/null || {
    cat "$DIR/dovecot/start.log" >&2
    show_log "$DIR/dovecot/dovecot.log"
    die "dovecot no arrancó"
  }
}

# ------------------------------------------------------------------------------------------ Postfix
write_postfix_config() {
  local e=$DIR/postfix/etc u domains known strict
  mkdir -p "$e" "$DIR/postfix/spool" "$DIR/postfix/data"
  chown root:root "$DIR/postfix/spool"
  chown postfix:postfix "$DIR/postfix/data"   # master.lock: debe ser del mail_owner
  all_users | sed 's/$/ OK/' > "$e/buzones"
  domains=$(all_users | sed 's/.*@//' | sort -u | tr '\n' ' ')
  # comodín: toda dirección que no sea un usuario conocido (con +detalle opcional) ni de un dominio
  # estricto va a $CATCHALL (conserva su To:). Las tablas regexp no quitan el +detalle solas.
  known=$(all_users | sed 's/\./\\./g; s/@/(\\+[^@]*)?@/' | paste -sd '|')
  strict=$(echo "$STRICT_DOMAINS $BOUNCE_DOMAINS" | sed 's/\./\\./g; s/ /|/g')
  printf 'if !/^(%s)$/\nif !/@(%s)$/\n/@/ %s\nendif\nendif\n' "$known" "$strict" "$CATCHALL" > "$e/comodin.regexp"
  for u in $BOUNCE_DOMAINS; do
    echo "$u lmtp:unix:$DIR/dovecot/run/lmtp"
  done > "$e/transporte"

  cat > "$e/main.cf" <<EOF
# generado por deploy/dev/mailstack.sh: instancia propia, /etc/postfix/main.cf no se usa
compatibility_level = 3.6
queue_directory = $DIR/postfix/spool
data_directory = $DIR/postfix/data
mail_owner = postfix
setgid_group = postdrop
# no hay syslog: registro a archivo (la ruta debe empezar por un maillog_file_prefixes)
maillog_file = $DIR/postfix/postfix.log
maillog_file_prefixes = $DIR
syslog_name = mesa-fe-postfix
myhostname = mailstack.fe.test
mydomain = fe.test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
local_transport = error:5.1.1 local delivery disabled
alias_maps =
alias_database =
biff = no
smtpd_banner = \$myhostname ESMTP mesa-fe mailstack
message_size_limit = 67108864
recipient_delimiter = +

# todos los usuarios son buzones virtuales, entregados por LMTP a Dovecot
virtual_mailbox_domains = $domains
virtual_mailbox_maps = texthash:$e/buzones
virtual_transport = lmtp:unix:$DIR/dovecot/run/lmtp
virtual_alias_domains =
virtual_alias_maps = regexp:$e/comodin.regexp
# los dominios que rebotan: aceptados y devueltos con un DSN al entregarlos
transport_maps = texthash:$e/transporte

# nada sale de la máquina: sin SMTP saliente, sin DNS
default_transport = error:5.7.1 mailstack: outbound mail is disabled
relay_transport = error:5.7.1 mailstack: outbound mail is disabled
smtp_dns_support_level = disabled
lmtp_host_lookup = native
smtpd_peername_lookup = no

smtpd_tls_cert_file = $DIR/tls/chain.pem
smtpd_tls_key_file = $DIR/tls/server.key
smtpd_tls_security_level = may
smtpd_tls_auth_only = no
# SASL (por el socket de Dovecot) solo en submission y SMTPS: así el puerto SMTP sigue recibiendo
# (y encolando) mientras Dovecot está detenido
smtpd_sasl_auth_enable = no
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DIR/dovecot/run/auth-postfix
smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated reject_unauth_destination
smtpd_error_sleep_time = 0s
# 60 s por omisión: un servicio que muere al arrancar (smtpd sin Dovecot) quedaría en pausa ese tiempo
service_throttle_time = 2s
# reintentar pronto lo que no se pudo entregar mientras Dovecot estaba detenido
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 10s
EOF

  # chroot "n" en todo: la cola privada no tiene jaula preparada
  cat > "$e/master.cf" <<EOF
# generado por deploy/dev/mailstack.sh
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
127.0.0.1:$SUBMISSION_PORT inet n - n - - smtpd
  -o syslog_name=mesa-fe-postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
127.0.0.1:$SMTPS_PORT inet n - n - - smtpd
  -o syslog_name=mesa-fe-postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
pickup     unix  n - n 60    1 pickup
cleanup    unix  n - n -     0 cleanup
qmgr       unix  n - n 300   1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n -     - trivial-rewrite
bounce     unix  - - n -     0 bounce
defer      unix  - - n -     0 bounce
trace      unix  - - n -     0 bounce
verify     unix  - - n -     1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -     - proxymap
proxywrite unix  - - n -     1 proxymap
smtp       unix  - - n -     - smtp
relay      unix  - - n -     - smtp
showq      unix  n - n -     - showq
error      unix  - - n -     - error
retry      unix  - - n -     - error
discard    unix  - - n -     - discard
lmtp       unix  - - n -     - lmtp
anvil      unix  - - n -     1 anvil
scache     unix  - - n -     1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
  # Postfix no lee un main.cf "caliente" (modificado hace menos de ~2 s): espera en pasos de 300 ms
  # ("pausing to let … cool down"), ~1,8 s por arranque. Con la fecha atrasada arranca de inmediato.
  touch -d "@$(( $(date +%s) - 60 ))" "$e"/*
}

start_postfix() {
  ports_free postfix "${POSTFIX_PORTS[@]}"
  write_postfix_config
  rm -f "$DIR/postfix/spool/pid/master.pid"
  touch "$DIR/postfix/postfix.log"
  # "postfix start" crea las carpetas de la cola que falten (post-install create-missing)
  postfix -c "$DIR/postfix/etc" start >"$DIR/postfix/start.log" 2>&1 9>&- </dev/null || {
    cat "$DIR/postfix/start.log" >&2
    show_log "$DIR/postfix/postfix.log"
    die "postfix no arrancó"
  }
}

# ------------------------------------------------------------------------------------------ PostgreSQL
# Un clúster propio en $DIR/pg/data (no el "main" de /etc/postgresql), creado la primera vez. initdb y
# postgres se niegan a correr como root: corren como el usuario postgres, con el directorio de trabajo
# en $DIR/pg (el del llamador puede no ser legible para postgres).
pg_as() { # orden... como el usuario postgres, desde $DIR/pg
  ( cd "$DIR/pg" && runuser -u postgres -- "$@" )
}

start_postgres() {
  local d=$DIR/pg v=""
  ports_free postgres "${POSTGRES_PORTS[@]}"
  if [ -f "$d/data/PG_VERSION" ] && [ ! -x "$PGBIN/postgres" ]; then
    read -r v < "$d/data/PG_VERSION"
    die "el clúster de $d/data es de PostgreSQL $v, que no está instalado: use start --fresh"
  fi
  mkdir -p "$d/data" "$d/run"
  chown postgres:postgres "$d" "$d/data" "$d/run"
  chmod 700 "$d/data"
  if [ ! -f "$d/data/PG_VERSION" ]; then
    # --locale=C: el orden del texto es el de los bytes, como en SQLite (las migraciones de
    # PostgreSQL además fijan COLLATE "C" en cada columna). --no-sync: datos desechables, y así
    # initdb no espera al disco. Sin clave de superusuario: postgres entra solo por el socket Unix
    # del clúster (trust); por TCP, con clave SCRAM.
    find "$d/data" -mindepth 1 -delete
    pg_as "$PGBIN/initdb" -D "$d/data" -U postgres --encoding=UTF8 --locale=C \
      --auth-local=trust --auth-host=scram-sha-256 --no-sync --no-instructions \
      >"$d/initdb.log" 2>&1 9>&- </dev/null || { show_log "$d/initdb.log"; die "initdb falló"; }
    echo "include_if_exists = 'mesa-fe.conf'" >> "$d/data/postgresql.conf"
  fi
  # los ajustes de la pila, reescritos en cada arranque (el puerto puede haber cambiado)
  cat > "$d/data/mesa-fe.conf" <<EOF
# generado por deploy/dev/mailstack.sh: clúster desechable de pruebas, sin durabilidad
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$d/run'
# pruebas en paralelo, cada una con su pool (y, más adelante, varios nodos por prueba)
max_connections = 200
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  chown postgres:postgres "$d/data/mesa-fe.conf"
  # Tras un kill -9 queda postmaster.pid; si su PID sigue como zombi (el PID 1 de estas máquinas
  # recoge huérfanos cada ~2 s), PostgreSQL cree que el clúster corre y no arranca. Aquí ya se sabe
  # que no corre (postgres_running, kill_strays): se borran los candados viejos.
  rm -f "$d/data/postmaster.pid" "$d/run/.s.PGSQL.$PG_PORT.lock"
  touch "$d/postgres.log"
  chown postgres:postgres "$d/postgres.log"
  # -W: no esperar aquí (cmd_start espera los puertos de todos a la vez). 9>&-: el postmaster no
  # debe heredar el candado (flock) de este script.
  pg_as "$PGBIN/pg_ctl" -D "$d/data" -l "$d/postgres.log" -W start >"$d/start.log" 2>&1 9>&- </dev/null || {
    cat "$d/start.log" >&2
    show_log "$d/postgres.log"
    die "postgres no arrancó"
  }
}

# El rol y la base de las pruebas (idempotente: corre en cada arranque). CREATEDB para que cada prueba
# cree su propia base; pg_signal_backend para que su DROP DATABASE … WITH (FORCE) corte también al
# autovacuum que esté analizando esa base (si no, la base queda). Por el socket Unix como superusuario (trust): no hace falta su clave.
setup_postgres() {
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR/pg/run" -p "$PG_PORT" -U postgres -d postgres \
    -v u="$PG_USER" -v pw="$PG_PASSWORD" -v db="$PG_DB" >"$DIR/pg/setup.log" 2>&1 <<'SQL' \
    || { show_log "$DIR/pg/setup.log"; die "postgres: no se pudo crear el rol o la base"; }
SELECT format('CREATE ROLE %I', :'u') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'u') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'u', :'pw') \gexec
SELECT format('GRANT pg_signal_backend TO %I', :'u') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'u') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
}

postgres_url() { echo "postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"; }

# Las bases que las pruebas crean una por prueba (tests/common/db.rs: t_ y 16 dígitos hexadecimales;
# mesa_fe_esquema_… de versiones anteriores de tests/postgres_schema.rs) y que una corrida matada dejó
# atrás: cada prueba borra la suya al terminar, pero no si nextest o alguien la mata. Solo las creadas
# hace más de 30 minutos (la fecha de su PG_VERSION): otra corrida puede estar usando las suyas ahora
# mismo (operations.rs llama a `start` en medio de la suite) y ninguna prueba dura tanto (nextest
# corta las de la pila a los 4 minutos). Idempotente y callado; un fallo aquí no impide arrancar.
drop_stale_test_databases() {
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR/pg/run" -p "$PG_PORT" -U postgres -d postgres \
    >"$DIR/pg/cleanup.log" 2>&1 <<'SQL' \
    || { show_log "$DIR/pg/cleanup.log"; say "aviso: no se pudieron borrar las bases viejas de las pruebas"; }
SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', datname) FROM pg_database
 WHERE datname ~ '^(t|mesa_fe_esquema)_[0-9a-f]{16}$'
   AND (pg_stat_file('base/' || oid || '/PG_VERSION', true)).modification < now() - interval '30 minutes'
\gexec
SQL
}

# ------------------------------------------------------------------------------------------ comandos
# Un solo mailstack.sh a la vez por directorio (nextest corre cada prueba en su propio proceso).
take_lock() {
  local ino_path ino_fd
  while :; do
    mkdir -p "$DIR"
    exec 9>>"$DIR/.lock"
    flock -w 120 9 || die "otro mailstack.sh tiene tomado $DIR/.lock desde hace 120 s"
    # si otro proceso borró el directorio (stop --purge) mientras esperábamos, volver a empezar
    ino_path=$(stat -c %i "$DIR/.lock" 2>/dev/null || echo none)
    ino_fd=$(stat -L -c %i /proc/$$/fd/9)
    [ "$ino_path" = "$ino_fd" ] && return 0
    exec 9>&-
  done
}

# antes de tocar nada (ni el candado): ruta válida y directorio nuestro (con la marca) o vacío
check_dir() {
  case "$DIR" in /*) ;; *) die "MESA_FE_MAILSTACK_DIR debe ser una ruta absoluta: $DIR" ;; esac
  case "$DIR" in *[[:space:]]*) die "MESA_FE_MAILSTACK_DIR no puede tener espacios: $DIR" ;; esac
  [ "$(id -u)" = 0 ] || die "hay que correrlo como root (Dovecot y Postfix lo necesitan)"
  if [ -d "$DIR" ] && [ ! -f "$DIR/$MARKER" ] && [ -n "$(find "$DIR" -mindepth 1 -maxdepth 1 ! -name .lock -print -quit)" ]; then
    die "$DIR ya existe, no está vacío y no es de mailstack.sh (falta $MARKER); use otro MESA_FE_MAILSTACK_DIR"
  fi
}

prepare_dir() {
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  touch "$DIR/$MARKER"
}

wipe_dir() { # vacía el directorio (salvo el candado); solo si lleva la marca
  [ -f "$DIR/$MARKER" ] || return 0
  find "$DIR" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} +
}

start_failed() {
  local c
  for c in $LAUNCHED; do "stop_$c" >&2; done
}

cmd_start() {
  local fresh=0
  case "${1:-}" in --fresh) fresh=1 ;; "") ;; *) die "uso: mailstack.sh start [--fresh]" ;; esac
  check_dir
  take_lock
  prepare_dir
  if [ "$fresh" = 1 ]; then
    saved_settings
    stop_postfix kill
    stop_dovecot kill
    stop_postgres kill
    wipe_dir
    touch "$DIR/$MARKER"
  fi
  ensure_packages
  load_settings
  save_settings
  make_tls
  DEADLINE=$(( $(date +%s) + WAIT ))

  # primero todos los puertos, para no dejar media pila arrancada si uno está ocupado
  dovecot_running || { kill_strays dovecot; ports_free dovecot "${DOVECOT_PORTS[@]}"; }
  postfix_running || { kill_strays postfix; ports_free postfix "${POSTFIX_PORTS[@]}"; }
  postgres_running || { kill_strays postgres; ports_free postgres "${POSTGRES_PORTS[@]}"; }
  # si algo falla, no dejar a medias lo que este start arrancó
  LAUNCHED=""
  trap 'start_failed' EXIT
  local started=""
  # Dovecot y Postfix arrancan a la vez: Postfix solo necesita el socket de autenticación de Dovecot
  # cuando llega una conexión a submission/SMTPS, y esos puertos se prueban después de los de Dovecot.
  if dovecot_running; then say "dovecot ya estaba en marcha"; else LAUNCHED="$LAUNCHED dovecot"; start_dovecot & started="$started dovecot:$!"; fi
  if postfix_running; then say "postfix ya estaba en marcha"; else LAUNCHED="$LAUNCHED postfix"; start_postfix & started="$started postfix:$!"; fi
  # PostgreSQL también, a la vez: su initdb (la primera vez, ~1 s) es lo más lento de la pila.
  if postgres_running; then say "postgres ya estaba en marcha"; else LAUNCHED="$LAUNCHED postgres"; start_postgres & started="$started postgres:$!"; fi
  local job rc=0
  for job in $started; do wait "${job#*:}" || rc=1; done
  [ "$rc" = 0 ] || exit 1

  wait_ports dovecot "$DIR/dovecot/dovecot.log" "${DOVECOT_PORTS[@]}"
  until [ -S "$DIR/dovecot/run/auth-postfix" ]; do
    [ "$(date +%s)" -lt "$DEADLINE" ] || { show_log "$DIR/dovecot/dovecot.log"; die "dovecot: falta el socket auth-postfix"; }
    sleep 0.05
  done
  wait_ports postfix "$DIR/postfix/postfix.log" "${POSTFIX_PORTS[@]}"
  wait_ports postgres "$DIR/pg/postgres.log" "${POSTGRES_PORTS[@]}"
  setup_postgres
  drop_stale_test_databases
  print_env > "$DIR/mailstack.env"
  trap - EXIT

  say "lista en $(elapsed) s (directorio $DIR)"
  cat <<EOF
  IMAP        127.0.0.1:$IMAP_PORT   texto plano o STARTTLS; LOGIN/PLAIN, XOAUTH2, OAUTHBEARER
  IMAPS       127.0.0.1:$IMAPS_PORT   TLS implícito
  LMTP        127.0.0.1:$LMTP_PORT
  SMTP        127.0.0.1:$SMTP_PORT   sin AUTH desde loopback
  submission  127.0.0.1:$SUBMISSION_PORT   STARTTLS + AUTH obligatorios
  SMTPS       127.0.0.1:$SMTPS_PORT   TLS implícito + AUTH
  PostgreSQL  127.0.0.1:$PG_PORT   $(postgres_url)  (rol con CREATEDB)
  CA          $DIR/tls/ca.pem
  OAuth2      introspección en $OAUTH_URL (POST token=…)
  usuarios    $(all_users | paste -sd ' ')  (clave: $PASSWORD)
  comodín     todo lo demás -> $CATCHALL
  rebotan     $BOUNCE_DOMAINS (aceptado; Dovecot no conoce al usuario y Postfix devuelve un DSN 5.1.1)
  registros   $DIR/dovecot/dovecot.log $DIR/postfix/postfix.log $DIR/pg/postgres.log
  entorno     eval "\$(bash $0 env)"
EOF
}

cmd_stop() {
  local purge=0
  case "${1:-}" in --purge) purge=1 ;; "") ;; *) die "uso: mailstack.sh stop [--purge]" ;; esac
  if [ ! -d "$DIR" ]; then say "no hay nada en $DIR"; return 0; fi
  check_dir
  take_lock
  saved_settings
  if [ "$purge" = 1 ]; then
    stop_postfix kill
    stop_dovecot kill
    stop_postgres kill
  else
    stop_postfix
    stop_dovecot
    stop_postgres
  fi
  if [ "$purge" = 1 ]; then
    if [ -f "$DIR/$MARKER" ]; then
      rm -rf "$DIR"
      say "borrado $DIR"
    else
      die "$DIR no lleva la marca $MARKER: no se borra"
    fi
  fi
  say "detenida en $(elapsed) s"
}

cmd_stop_dovecot() {
  [ -f "$DIR/settings.env" ] || die "la pila no se ha arrancado en $DIR"
  check_dir
  take_lock
  saved_settings
  dovecot_running || say "dovecot no estaba en marcha"
  stop_dovecot
}

# La configuración de Postfix de este script, aplicada a un Postfix que ya corre (postfix reload: las
# entregas en curso siguen). Para una pila arrancada con una versión anterior del script.
cmd_reload_postfix() {
  [ -f "$DIR/settings.env" ] || die "la pila no se ha arrancado en $DIR (use: mailstack.sh start)"
  check_dir
  take_lock
  saved_settings
  postfix_running || die "postfix no corre (use: mailstack.sh start)"
  write_postfix_config
  postfix -c "$DIR/postfix/etc" reload >"$DIR/postfix/reload.log" 2>&1 9>&- </dev/null || {
    cat "$DIR/postfix/reload.log" >&2
    die "postfix no recargó su configuración"
  }
  say "postfix recargó su configuración"
}

cmd_restart_dovecot() {
  [ -f "$DIR/settings.env" ] || die "la pila no se ha arrancado en $DIR (use: mailstack.sh start)"
  check_dir
  take_lock
  compute_settings
  local url=$OAUTH_URL
  # shellcheck disable=SC1091
  . "$DIR/settings.env"
  # la única opción que se puede cambiar en caliente: la URL de introspección
  [ -n "${MESA_FE_MAILSTACK_OAUTH_INTROSPECTION:-}" ] && OAUTH_URL=$url
  validate_settings
  port_specs
  save_settings
  stop_dovecot
  DEADLINE=$(( $(date +%s) + WAIT ))
  start_dovecot
  wait_ports dovecot "$DIR/dovecot/dovecot.log" "${DOVECOT_PORTS[@]}"
  print_env > "$DIR/mailstack.env"
  say "dovecot reiniciado en $(elapsed) s (pid $(dovecot_pid))"
}

cmd_stop_postgres() {
  [ -f "$DIR/settings.env" ] || die "la pila no se ha arrancado en $DIR"
  check_dir
  take_lock
  saved_settings
  postgres_running || say "postgres no estaba en marcha"
  stop_postgres
}

# Mismos datos y mismo puerto: las sesiones abiertas se cortan (apagado fast) y los clientes deben
# reconectar, como tras un reinicio o una conmutación del servidor de verdad.
cmd_restart_postgres() {
  [ -f "$DIR/settings.env" ] || die "la pila no se ha arrancado en $DIR (use: mailstack.sh start)"
  check_dir
  take_lock
  saved_settings
  validate_settings
  # una pila arrancada antes de que hubiera PostgreSQL no guardó su puerto
  save_settings
  PGBIN=$(pg_bin)
  [ -x "$PGBIN/initdb" ] || die "PostgreSQL no está instalado (use: mailstack.sh start, que lo instala)"
  stop_postgres
  DEADLINE=$(( $(date +%s) + WAIT ))
  start_postgres
  wait_ports postgres "$DIR/pg/postgres.log" "${POSTGRES_PORTS[@]}"
  setup_postgres
  print_env > "$DIR/mailstack.env"
  say "postgres reiniciado en $(elapsed) s (pid $(postgres_pid))"
}

cmd_status() {
  local ok=0 p spec kind port name
  saved_settings
  echo "directorio  $DIR"
  if p=$(dovecot_pid); then echo "dovecot     en marcha (pid $p)"; else echo "dovecot     detenido"; ok=1; fi
  if p=$(postfix_pid); then echo "postfix     en marcha (pid $p)"; else echo "postfix     detenido"; ok=1; fi
  if p=$(postgres_pid); then echo "postgres    en marcha (pid $p)"; else echo "postgres    detenido"; ok=1; fi
  for spec in "${DOVECOT_PORTS[@]}" "${POSTFIX_PORTS[@]}" "${POSTGRES_PORTS[@]}"; do
    IFS=: read -r kind port name <<< "$spec"
    if ready "$kind" "$port"; then printf '%-11s 127.0.0.1:%s responde\n' "$name" "$port"
    else printf '%-11s 127.0.0.1:%s NO responde\n' "$name" "$port"; ok=1; fi
  done
  return "$ok"
}

print_env() {
  cat <<EOF
export MESA_FE_MAILSTACK_DIR=$(q "$DIR")
export MESA_FE_MAILSTACK_HOST=127.0.0.1
export MESA_FE_MAILSTACK_IMAP_PORT=$IMAP_PORT
export MESA_FE_MAILSTACK_IMAPS_PORT=$IMAPS_PORT
export MESA_FE_MAILSTACK_LMTP_PORT=$LMTP_PORT
export MESA_FE_MAILSTACK_SMTP_PORT=$SMTP_PORT
export MESA_FE_MAILSTACK_SUBMISSION_PORT=$SUBMISSION_PORT
export MESA_FE_MAILSTACK_SMTPS_PORT=$SMTPS_PORT
export MESA_FE_MAILSTACK_CA=$(q "$DIR/tls/ca.pem")
export MESA_FE_MAILSTACK_PASSWORD=$(q "$PASSWORD")
export MESA_FE_MAILSTACK_OAUTH_INTROSPECTION=$(q "$OAUTH_URL")
export MESA_FE_MAILSTACK_BUZONES=$(q "$BUZONES")
export MESA_FE_MAILSTACK_USERS=$(q "$(all_users | paste -sd ' ')")
export MESA_FE_MAILSTACK_CATCHALL=$CATCHALL
export MESA_FE_MAILSTACK_DOVECOT_CONF=$(q "$DIR/dovecot/dovecot.conf")
export MESA_FE_MAILSTACK_PG_PORT=$PG_PORT
export MESA_FE_PRUEBA_POSTGRES=$(q "$(postgres_url)")
EOF
  if [ -n "$EXTRA_USERS" ]; then echo "export MESA_FE_MAILSTACK_EXTRA_USERS=$(q "$EXTRA_USERS")"; fi
}

cmd_env() {
  # antes que los ajustes guardados: los de una pila de antes de PostgreSQL no traen PG_PORT
  compute_settings
  if [ -f "$DIR/settings.env" ]; then
    # shellcheck disable=SC1091
    . "$DIR/settings.env"
  else
    echo "# mailstack: aún no arrancada en $DIR; valores según el entorno actual" >&2
  fi
  print_env
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  status) cmd_status ;;
  env) cmd_env ;;
  restart-dovecot) cmd_restart_dovecot ;;
  stop-dovecot) cmd_stop_dovecot ;;
  restart-postgres) cmd_restart_postgres ;;
  stop-postgres) cmd_stop_postgres ;;
  reload-postfix) cmd_reload_postfix ;;
  *)
    echo "uso: mailstack.sh start [--fresh] | stop [--purge] | status | env | restart-dovecot | stop-dovecot | restart-postgres | stop-postgres | reload-postfix" >&2
    exit 2
    ;;
esac
