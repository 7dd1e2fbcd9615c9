#!/usr/bin/env python3
"""Pide el enlace de entrada a la consola web para un agente de la mesa de desarrollo y lo imprime.

Hace lo que haría una persona: abre /consola/entrar, escribe su correo y lo envía; después lee el
correo que la mesa le manda, en el buzón comodín de la pila local (catchall@fe.test: ahí cae todo lo
de dian.gov.co que no es un buzón, p. ej. ana.rojas@dian.gov.co), e imprime el enlace. El enlace vale
15 minutos y una sola vez: ábralo en el navegador y pulse «Entrar».

Uso: python3 deploy/dev/enlace-consola.py [CORREO] [URL_CONSOLA]
     (por defecto ana.rojas@dian.gov.co y http://127.0.0.1:9464)
Lee MESA_FE_MAILSTACK_IMAP_PORT y MESA_FE_MAILSTACK_PASSWORD (eval "$(bash deploy/dev/mailstack.sh env)").
"""
import email
import email.policy
import html.parser
import http.cookiejar
import imaplib
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

who = sys.argv[1] if len(sys.argv) > 1 else "ana.rojas@dian.gov.co"
base = (sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:9464").rstrip("/")
imap_port = int(os.environ.get("MESA_FE_MAILSTACK_IMAP_PORT", "32143"))
password = os.environ.get("MESA_FE_MAILSTACK_PASSWORD", "secret")
catchall = "catchall@fe.test"
link_re = re.compile(r"https?://\S+/consola/entrar/[A-Za-z0-9_-]{43}")


class HiddenFields(html.parser.HTMLParser):
    """Los campos ocultos del formulario de entrada (si trae un código CSRF, se devuelve)."""

    def __init__(self):
        super().__init__()
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("type") == "hidden" and a.get("name"):
            self.fields[a["name"]] = a.get("value") or ""


def links_in_mailbox():
    """Los enlaces de entrada para `who` que hay en el buzón comodín, del más viejo al más nuevo."""
    imap = imaplib.IMAP4("127.0.0.1", imap_port)
    try:
        imap.login(catchall, password)
        imap.select("INBOX", readonly=True)
        _, data = imap.search(None, "TO", who, "SUBJECT", '"Enlace para entrar"')
        found = []
        for num in data[0].split():
            _, parts = imap.fetch(num, "(BODY.PEEK[])")
            message = email.message_from_bytes(parts[0][1], policy=email.policy.default)
            body = message.get_body(preferencelist=("plain",))
            text = body.get_content() if body is not None else ""
            found.extend(link_re.findall(text))
        return found
    finally:
        imap.logout()


def main():
    before = set(links_in_mailbox())
    jar = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    try:
        form = HiddenFields()
        form.feed(jar.open(f"{base}/consola/entrar", timeout=10).read().decode("utf-8", "replace"))
        fields = dict(form.fields, correo=who)
        jar.open(f"{base}/consola/entrar", data=urllib.parse.urlencode(fields).encode(), timeout=10)
    except (urllib.error.URLError, OSError) as e:
        sys.exit(f"no se pudo pedir el enlace en {base}/consola/entrar: {e}")
    deadline = time.time() + 60
    while time.time() < deadline:
        new = [link for link in links_in_mailbox() if link not in before]
        if new:
            print(new[-1])
            return
        time.sleep(1)
    sys.exit(
        f"en 60 s no llegó el enlace para {who} a {catchall} (¿es un agente o coordinador de la "
        "configuración? ¿pidió más de 5 enlaces en una hora?)"
    )


main()
