#!/usr/bin/env python3
"""Prueba de humo de la pila de correo de deploy/dev/mailstack.sh (solo biblioteca estándar).

Comprueba, contra la pila en marcha: IMAP (LOGIN, APPEND, SELECT, FETCH, MOVE, carpetas, CAPABILITY),
STARTTLS e IMAPS con la CA de la pila (y que otra CA se rechaza), entrega SMTP -> LMTP -> INBOX de un
buzón, el buzón comodín, submission y SMTPS con AUTH, LMTP directo, IDLE, y XOAUTH2/OAUTHBEARER
contra un endpoint de introspección propio (http.server en loopback, en la URL configurada en la pila).

Uso:  python3 deploy/dev/check-mailstack.py      (lee la configuración con `mailstack.sh env`)
La última línea es "N passed, N failed"; sale con 1 si algo falla.
"""
import email
import http.server
import imaplib
import json
import os
import re
import shlex
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from email import policy
from email.message import EmailMessage

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = "127.0.0.1"


def load_env():
    out = subprocess.run(["bash", os.path.join(HERE, "mailstack.sh"), "env"],
                         check=True, capture_output=True, text=True).stdout
    env = {}
    for line in out.splitlines():
        if line.startswith("export "):
            k, _, v = line[len("export "):].partition("=")
            parts = shlex.split(v)
            env[k] = parts[0] if parts else ""
    return env


E = load_env()
PASSWORD = E["MESA_FE_MAILSTACK_PASSWORD"]
CA = E["MESA_FE_MAILSTACK_CA"]
IMAP_PORT = int(E["MESA_FE_MAILSTACK_IMAP_PORT"])
IMAPS_PORT = int(E["MESA_FE_MAILSTACK_IMAPS_PORT"])
LMTP_PORT = int(E["MESA_FE_MAILSTACK_LMTP_PORT"])
SMTP_PORT = int(E["MESA_FE_MAILSTACK_SMTP_PORT"])
SUBMISSION_PORT = int(E["MESA_FE_MAILSTACK_SUBMISSION_PORT"])
SMTPS_PORT = int(E["MESA_FE_MAILSTACK_SMTPS_PORT"])
BUZONES = E["MESA_FE_MAILSTACK_BUZONES"].split()
CATCHALL = E["MESA_FE_MAILSTACK_CATCHALL"]
INTROSPECTION = E["MESA_FE_MAILSTACK_OAUTH_INTROSPECTION"]

RESULTS = []


def check(fn):
    name = fn.__name__
    t = time.monotonic()
    try:
        detail = fn() or ""
        RESULTS.append(True)
        print(f"PASS {name} ({time.monotonic() - t:.2f}s) {detail}", flush=True)
    except Exception as e:  # noqa: BLE001 - una prueba de humo informa todo fallo y sigue
        RESULTS.append(False)
        print(f"FAIL {name} ({time.monotonic() - t:.2f}s): {type(e).__name__}: {e}", flush=True)


def ca_ctx():
    return ssl.create_default_context(cafile=CA)


def tag():
    return uuid.uuid4().hex[:12]


def make_msg(frm, to, subject):
    m = EmailMessage()
    m["From"] = frm
    m["To"] = to
    m["Subject"] = subject
    m["Message-ID"] = f"<{tag()}@prueba.mesa-fe.test>"
    m.set_content(f"Mensaje de prueba para {to}: factura electrónica, ñandú €.\n")
    return m


def imap(user, mode="plain"):
    if mode == "imaps":
        M = imaplib.IMAP4_SSL(HOST, IMAPS_PORT, ssl_context=ca_ctx(), timeout=10)
    else:
        M = imaplib.IMAP4(HOST, IMAP_PORT, timeout=10)
        if mode == "starttls":
            M.starttls(ssl_context=ca_ctx())
    M.login(user, PASSWORD)
    return M


def ok(resp, what):
    typ, data = resp
    if typ != "OK":
        raise AssertionError(f"{what}: {typ} {data}")
    return data


def wait_for_message_id(user, message_id, timeout=10.0, mailbox="INBOX"):
    """Espera (IMAP) a que un mensaje con ese Message-ID esté en el buzón; devuelve el mensaje."""
    M = imap(user)
    try:
        deadline = time.monotonic() + timeout
        while True:
            ok(M.select(mailbox, readonly=True), "SELECT")
            uids = ok(M.uid("SEARCH", None, "HEADER", "Message-ID", message_id), "SEARCH")[0].split()
            if uids:
                data = ok(M.uid("FETCH", uids[-1], "(BODY.PEEK[])"), "FETCH")
                raw = next(p[1] for p in data if isinstance(p, tuple))
                return email.message_from_bytes(raw, policy=policy.default)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{message_id} no llegó a {user}/{mailbox} en {timeout}s")
            time.sleep(0.05)
    finally:
        M.logout()


def smtp_send(msg, port=None, rcpt=None):
    with smtplib.SMTP(HOST, port or SMTP_PORT, local_hostname="cliente.test", timeout=10) as s:
        s.send_message(msg, to_addrs=rcpt)


# ------------------------------------------------------------------------------------------- IMAP
def imap_capabilities():
    M = imaplib.IMAP4(HOST, IMAP_PORT, timeout=10)
    try:
        pre = set(M.capabilities)
        need = {"IMAP4REV1", "STARTTLS", "IDLE", "AUTH=PLAIN", "AUTH=LOGIN", "AUTH=XOAUTH2", "AUTH=OAUTHBEARER"}
        missing = need - pre
        assert not missing, f"faltan antes del login: {sorted(missing)}"
        M.login(BUZONES[0], PASSWORD)
        post = set(ok(M.capability(), "CAPABILITY")[0].decode().upper().split())
        missing = {"IDLE", "MOVE", "UIDPLUS", "ENABLE", "CONDSTORE"} - post
        assert not missing, f"faltan después del login: {sorted(missing)}"
        M.logout()
    finally:
        try:
            M.shutdown()
        except OSError:
            pass
    return "IDLE MOVE UIDPLUS CONDSTORE, AUTH=PLAIN LOGIN XOAUTH2 OAUTHBEARER"


def imap_append_select_fetch_move():
    """Por cada buzón: carpetas, APPEND (APPENDUID), SELECT, FETCH byte a byte, UID MOVE a Procesados."""
    for user in BUZONES:
        M = imap(user)
        try:
            folders = {re.sub(r'^\(.*?\) "/" ', "", f.decode()).strip('"') for f in ok(M.list(), "LIST")}
            for f in ("INBOX", "Procesados", "Sent"):
                assert f in folders, f"{user}: falta la carpeta {f} (hay {sorted(folders)})"
            raw = make_msg("proveedor1@pt.test", user, f"APPEND {tag()}").as_bytes(policy=policy.SMTP)
            typ, data = M.append("INBOX", None, None, raw)
            assert typ == "OK", (typ, data)
            m = re.search(rb"APPENDUID (\d+) (\d+)", data[0])
            assert m, f"sin APPENDUID: {data}"
            uid = m.group(2).decode()
            exists = int(ok(M.select("INBOX"), "SELECT")[0])
            assert exists >= 1
            data = ok(M.uid("FETCH", uid, "(BODY.PEEK[])"), "FETCH")
            got = next(p[1] for p in data if isinstance(p, tuple))
            assert got == raw, "el mensaje leído no es idéntico al guardado"
            typ, data = M.uid("MOVE", uid, "Procesados")
            assert typ == "OK", (typ, data)
            copyuid = M.response("COPYUID")[1]
            assert copyuid and copyuid[0], "UID MOVE sin COPYUID"
            assert not ok(M.uid("SEARCH", None, "UID", uid), "SEARCH")[0].split(), "sigue en INBOX tras MOVE"
            ok(M.select("Procesados", readonly=True), "SELECT Procesados")
            assert ok(M.uid("SEARCH", None, "ALL"), "SEARCH")[0].split(), "Procesados vacío tras MOVE"
            M.logout()
        except Exception:
            M.shutdown()
            raise
    return f"{len(BUZONES)} buzones: {', '.join(BUZONES)}"


def imap_starttls_with_ca():
    M = imap(BUZONES[1], "starttls")
    ok(M.select("INBOX", readonly=True), "SELECT")
    M.logout()


def imaps_with_ca_and_wrong_ca_refused():
    M = imap(BUZONES[0], "imaps")
    ok(M.select("INBOX", readonly=True), "SELECT")
    M.logout()
    # por nombre también (SAN DNS:localhost)
    with socket.create_connection((HOST, IMAPS_PORT), timeout=5) as s:
        with ca_ctx().wrap_socket(s, server_hostname="localhost") as t:
            assert t.recv(100).startswith(b"* OK")
    # con la CA del sistema (otra CA) el certificado se rechaza
    try:
        imaplib.IMAP4_SSL(HOST, IMAPS_PORT, ssl_context=ssl.create_default_context(), timeout=5)
    except ssl.SSLCertVerificationError as e:
        return f"otra CA rechazada: {e.verify_message}"
    raise AssertionError("el certificado se aceptó sin la CA de la pila")


def imap_wrong_password_refused():
    M = imaplib.IMAP4(HOST, IMAP_PORT, timeout=10)
    t = time.monotonic()
    try:
        M.login(BUZONES[0], PASSWORD + "-mala")
    except imaplib.IMAP4.error as e:
        return f"NO en {time.monotonic() - t:.2f}s: {e}"
    finally:
        M.shutdown()
    raise AssertionError("login aceptado con clave errónea")


# ------------------------------------------------------------------------------------------- SMTP
def smtp_to_buzon_delivered():
    user = BUZONES[1]
    msg = make_msg("rosa@correo.example", user, f"SMTP {tag()}")
    t = time.monotonic()
    smtp_send(msg)
    got = wait_for_message_id(user, msg["Message-ID"])
    assert got["Subject"] == msg["Subject"]
    return f"{user}: en INBOX {time.monotonic() - t:.2f}s después de enviar"


def smtp_plus_address_delivered():
    user = BUZONES[0]
    local, dom = user.split("@")
    msg = make_msg("rosa@correo.example", f"{local}+caso42@{dom}", f"PLUS {tag()}")
    smtp_send(msg)
    got = wait_for_message_id(user, msg["Message-ID"])
    return f"Delivered-To: {got['Delivered-To']}"


def smtp_catchall():
    """Otro dominio, u otra dirección de dian.gov.co: al buzón comodín, con su To: intacto."""
    out = []
    for rcpt in ("rosa@correo.example", "coord.factura@dian.gov.co"):
        msg = make_msg(BUZONES[1], rcpt, f"COMODIN {tag()}")
        smtp_send(msg)
        got = wait_for_message_id(CATCHALL, msg["Message-ID"])
        assert got["To"] == rcpt, got["To"]
        out.append(rcpt)
    return f"{' y '.join(out)} -> {CATCHALL}"


def smtp_unknown_local_user_rejected():
    with smtplib.SMTP(HOST, SMTP_PORT, timeout=10) as s:
        s.ehlo("cliente.test")
        s.mail("x@cliente.test")
        code, resp = s.rcpt("nadie@fe.test")
        assert code == 550, (code, resp)
    return f"{code} {resp.decode()[:60]}"


def submission_starttls_auth():
    msg = make_msg("agente.n2@fe.test", "proveedor1@pt.test", f"SUBMISSION {tag()}")
    with smtplib.SMTP(HOST, SUBMISSION_PORT, local_hostname="cliente.test", timeout=10) as s:
        s.ehlo()
        assert not s.has_extn("auth"), "AUTH ofrecido antes de STARTTLS"
        code, _ = s.mail("agente.n2@fe.test")
        assert code == 530, f"MAIL sin TLS: {code} (se esperaba 530)"
        s.rset()
        s.starttls(context=ca_ctx())
        s.ehlo()
        s.login("agente.n2@fe.test", PASSWORD)
        s.send_message(msg)
    wait_for_message_id("proveedor1@pt.test", msg["Message-ID"])
    return "530 sin TLS; STARTTLS + AUTH -> entregado"


def smtps_auth():
    msg = make_msg("csat@fe.test", "agente.n3@fe.test", f"SMTPS {tag()}")
    with smtplib.SMTP_SSL(HOST, SMTPS_PORT, local_hostname="cliente.test", context=ca_ctx(), timeout=10) as s:
        try:
            s.login("csat@fe.test", PASSWORD + "-mala")
            raise AssertionError("AUTH aceptado con clave errónea")
        except smtplib.SMTPAuthenticationError:
            pass
        s.login("csat@fe.test", PASSWORD)
        s.send_message(msg)
    wait_for_message_id("agente.n3@fe.test", msg["Message-ID"])
    return "clave errónea 535; AUTH -> entregado"


def lmtp_direct():
    msg = make_msg("x@cliente.test", "csat@fe.test", f"LMTP {tag()}")
    with smtplib.LMTP(HOST, LMTP_PORT, timeout=10) as s:
        s.send_message(msg)
    wait_for_message_id("csat@fe.test", msg["Message-ID"], timeout=3)


def imap_idle_push():
    """IDLE en un buzón; un envío SMTP debe producir '* n EXISTS' sin sondear."""
    user = BUZONES[0]
    M = imap(user)
    try:
        ok(M.select("INBOX"), "SELECT")
        t = M._new_tag().decode()
        M.send(f"{t} IDLE\r\n".encode())
        line = M.readline()
        assert line.startswith(b"+"), line
        msg = make_msg("rosa@correo.example", user, f"IDLE {tag()}")
        t0 = time.monotonic()
        smtp_send(msg)
        M.sock.settimeout(10)
        while True:
            line = M.readline()
            if not line:
                raise AssertionError("conexión cerrada durante IDLE")
            if re.match(rb"\* \d+ EXISTS", line):
                break
        dt = time.monotonic() - t0
        M.send(b"DONE\r\n")
        while not M.readline().startswith(t.encode()):
            pass
        M.logout()
    except Exception:
        M.shutdown()
        raise
    return f"EXISTS {dt:.2f}s después de empezar el envío"


# ------------------------------------------------------------------------------------------- OAuth2
GOOD_TOKEN = "tok-" + uuid.uuid4().hex
OAUTH_USER = BUZONES[0]
INTROSPECTED = []


class Introspection(http.server.BaseHTTPRequestHandler):
    """RFC 7662 mínimo: POST token=… -> {"active": true, "username": …} solo para GOOD_TOKEN."""

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        token = urllib.parse.parse_qs(body).get("token", [""])[0]
        INTROSPECTED.append(token)
        if token == GOOD_TOKEN:
            doc = {"active": True, "username": OAUTH_USER, "scope": "mail"}
        else:
            doc = {"active": False}
        data = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def start_introspection():
    u = urllib.parse.urlsplit(INTROSPECTION)
    host = u.hostname or HOST
    try:
        srv = http.server.ThreadingHTTPServer((host, u.port or 80), Introspection)
    except OSError as e:
        raise RuntimeError(f"no se pudo servir la introspección en {INTROSPECTION}: {e}") from e
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def sasl(M, mech, payload):
    """AUTHENTICATE mech con la respuesta inicial; a un desafío de error responde vacío (RFC 7628)."""
    sent = []

    def respond(_challenge):
        if sent:
            return b""
        sent.append(1)
        return payload.encode()

    return M.authenticate(mech, respond)


def xoauth2(user, token):
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def oauthbearer(user, token):
    return f"n,a={user},\x01host={HOST}\x01port={IMAP_PORT}\x01auth=Bearer {token}\x01\x01"


def oauth_login(mech, user, token):
    """True si el servidor acepta; el texto del NO si no."""
    M = imaplib.IMAP4(HOST, IMAP_PORT, timeout=10)
    try:
        payload = (xoauth2 if mech == "XOAUTH2" else oauthbearer)(user, token)
        sasl(M, mech, payload)
        ok(M.select("INBOX", readonly=True), "SELECT")
        M.logout()
        return True
    except imaplib.IMAP4.error as e:
        M.shutdown()
        return str(e)


def oauth_checks():
    try:
        srv = start_introspection()
    except RuntimeError as e:
        for name in ("xoauth2_good_token", "xoauth2_bad_token_refused", "oauthbearer_good_token",
                     "xoauth2_token_of_other_user_refused"):
            RESULTS.append(False)
            print(f"FAIL {name}: {e}", flush=True)
        return
    try:
        def xoauth2_good_token():
            n = len(INTROSPECTED)
            r = oauth_login("XOAUTH2", OAUTH_USER, GOOD_TOKEN)
            assert r is True, f"rechazado: {r}"
            assert INTROSPECTED[n:] == [GOOD_TOKEN], f"introspección no consultada: {INTROSPECTED[n:]}"
            return f"{OAUTH_USER}, introspección en {INTROSPECTION}"

        def xoauth2_bad_token_refused():
            r = oauth_login("XOAUTH2", OAUTH_USER, "tok-revocado")
            assert r is not True, "token inválido aceptado"
            return r

        def oauthbearer_good_token():
            r = oauth_login("OAUTHBEARER", OAUTH_USER, GOOD_TOKEN)
            assert r is True, f"rechazado: {r}"

        def xoauth2_token_of_other_user_refused():
            r = oauth_login("XOAUTH2", BUZONES[1], GOOD_TOKEN)
            assert r is not True, "token de otro usuario aceptado"
            return r

        for fn in (xoauth2_good_token, xoauth2_bad_token_refused, oauthbearer_good_token,
                   xoauth2_token_of_other_user_refused):
            check(fn)
    finally:
        srv.shutdown()
        srv.server_close()


def main():
    t = time.monotonic()
    for fn in (imap_capabilities, imap_append_select_fetch_move, imap_starttls_with_ca,
               imaps_with_ca_and_wrong_ca_refused, imap_wrong_password_refused,
               smtp_to_buzon_delivered, smtp_plus_address_delivered, smtp_catchall,
               smtp_unknown_local_user_rejected, submission_starttls_auth, smtps_auth, lmtp_direct,
               imap_idle_push):
        check(fn)
    oauth_checks()
    passed = sum(RESULTS)
    failed = len(RESULTS) - passed
    print(f"(total {time.monotonic() - t:.2f}s)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
