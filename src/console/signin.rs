//! Signing in and out of the console: a single-use link mailed to the person's address.
//!
//! - `GET /consola/entrar`: the form (one address). `POST` answers the same page for any address;
//!   only people [`session::person`] accepts get a mail, at most `consola.enlaces_por_hora` an
//!   hour. The answer takes [`ANSWER_TIME`] whatever happened, so its time tells nothing either.
//! - `GET /consola/entrar/{token}`: a page with one button (mail scanners that fetch links do
//!   not spend it); its `POST` spends the link, opens a session and sets the cookie.
//! - `POST /consola/salir`: ends the session.
//!
//! Tokens never reach a log or the outbox: the link's token goes only into the mail, sent
//! straight through the buzón's SMTP.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use lettre::Message;
use lettre::message::header::{
    ContentTransferEncoding, ContentType, HeaderName, HeaderValue as MailHeader,
};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use minijinja::context;
use serde::Deserialize;
use tracing::warn;

use super::page;
use super::session::{self, COOKIE, Viewer, random_token, token_hash};
use crate::config::{Buzon, Config, SmtpSettings, is_loopback};
use crate::http::HttpState;
use crate::mail::smtp::Sender;

/// Every answer to `POST /consola/entrar` takes this long: a known address (a link written, a
/// mail sent) and an unknown one (nothing) look the same. A send that needs longer goes on in
/// the background and the page says the link is on its way.
pub const ANSWER_TIME: Duration = Duration::from_millis(1200);

/// Where a sign-in goes when it has no (acceptable) `volver`.
pub const HOME: &str = "/consola/bandeja";

/// The mail's subject (the browser tests look for its start).
pub const SUBJECT: &str = "Enlace para entrar a la consola de mesa-fe";

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/entrar", get(form).post(ask))
        .route("/entrar/{token}", get(confirm).post(enter))
        .route("/salir", post(leave))
}

#[derive(Debug, Default, Deserialize)]
struct Back {
    #[serde(default)]
    volver: String,
}

#[derive(Debug, Default, Deserialize)]
struct Ask {
    #[serde(default)]
    correo: String,
    #[serde(default)]
    volver: String,
}

#[derive(Debug, Default, Deserialize)]
struct Csrf {
    #[serde(default)]
    _csrf: String,
}

/// `volver` when it is a page of the console, `None` otherwise. Only a path of ours is
/// followed after signing in: never another host (`//evil`, `https://…`, `/\evil`).
pub fn safe_return(volver: &str) -> Option<&str> {
    let ours = volver.starts_with("/consola/")
        && !volver.contains("//")
        && !volver.contains("..")
        && volver.bytes().all(|b| b.is_ascii_graphic() && b != b'\\' && b != b'"' && b != b'<');
    ours.then_some(volver)
}

/// Whether the cookie must be `Secure`: always, except when the console's own address is
/// `http://` on a loopback host (127.x, ::1, localhost), where a browser has no TLS to use.
pub fn cookie_secure(base_url: &str) -> bool {
    let lower = base_url.trim().to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("http://") else { return true };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    !is_loopback(host)
}

/// The `Set-Cookie` value of a new session (`max_age` seconds), or of its end (0).
fn session_cookie(token: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path=/consola; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

fn base_url(config: &Config) -> String {
    config.consola.base_url(&config.http.address)
}

/// `GET /consola/entrar`.
async fn form(State(state): State<Arc<HttpState>>, Query(back): Query<Back>) -> Response {
    let minutes = state.live.desk().config.consola.link_minutes;
    let volver = safe_return(&back.volver).unwrap_or_default();
    page::render_anonymous(StatusCode::OK, "entrar.html", context! { volver, minutes })
}

/// What became of a request for a link, as the page tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    /// The same answer for a link sent, an unknown address and one over its limit.
    Answered,
    /// No buzón can send: the operators must configure one.
    NoSmtp,
    /// The SMTP server or the database failed now: try again in a minute.
    Failed,
}

/// `POST /consola/entrar`.
async fn ask(State(state): State<Arc<HttpState>>, Form(asked): Form<Ask>) -> Response {
    let deadline = tokio::time::Instant::now() + ANSWER_TIME;
    let volver = safe_return(&asked.volver).unwrap_or_default().to_string();
    let work = tokio::spawn(send_link(state.clone(), asked.correo, volver));
    let outcome = match tokio::time::timeout_at(deadline, work).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => {
            warn!(error = %e, "consola: la tarea que envía el enlace para entrar falló");
            Asked::Failed
        }
        // Still sending: it goes on in the background; the answer must not wait for it.
        Err(_) => Asked::Answered,
    };
    tokio::time::sleep_until(deadline).await;
    let minutes = state.live.desk().config.consola.link_minutes;
    let (status, problem) = match outcome {
        Asked::Answered => (StatusCode::OK, ""),
        Asked::NoSmtp => (StatusCode::SERVICE_UNAVAILABLE, "sin_smtp"),
        Asked::Failed => (StatusCode::SERVICE_UNAVAILABLE, "envio"),
    };
    page::render_anonymous(status, "entrar_enviado.html", context! { problem, minutes })
}

/// The buzón whose SMTP sends the links: `consola.buzon`, or the first with `[buzones.smtp]`.
fn link_buzon(config: &Config) -> Option<(&Buzon, &SmtpSettings)> {
    let wanted = config.consola.buzon.trim();
    config
        .buzones
        .iter()
        .filter(|b| wanted.is_empty() || b.name == wanted)
        .find_map(|b| b.smtp.as_ref().map(|smtp| (b, smtp)))
}

/// Writes and mails a link to `address` when the configuration knows it and it is under its
/// hourly limit. Nothing here logs the address or the token.
async fn send_link(state: Arc<HttpState>, address: String, volver: String) -> Asked {
    let desk = state.live.desk();
    let config = &desk.config;
    let Some((buzon, smtp)) = link_buzon(config) else { return Asked::NoSmtp };
    let Some(person) = session::person(&state, &address) else { return Asked::Answered };
    let settings = &config.consola;
    let since = Utc::now() - chrono::Duration::hours(1);
    match state.store.console_links_since(&person.address, since).await {
        Ok(n) if n >= i64::from(settings.links_per_hour) => {
            warn!(
                limite = settings.links_per_hour,
                "consola: una dirección pidió más enlaces para entrar de los permitidos por hora; \
                 no se envía otro"
            );
            return Asked::Answered;
        }
        Ok(_) => {}
        Err(e) => {
            warn!(error = %e, "consola: no se pudo contar los enlaces pedidos");
            return Asked::Failed;
        }
    }
    let token = random_token();
    let expires = Utc::now() + chrono::Duration::minutes(i64::from(settings.link_minutes));
    if let Err(e) =
        state.store.create_console_link(&person.address, &token_hash(&token), expires).await
    {
        warn!(error = %e, "consola: no se pudo guardar el enlace para entrar");
        return Asked::Failed;
    }
    let mut url = format!("{}/consola/entrar/{token}", base_url(config));
    if !volver.is_empty() && volver != HOME {
        url.push_str(&format!("?volver={}", session::percent_encode(&volver)));
    }
    let link = LinkMail { from: buzon, smtp, to: &person.address, name: &person.name, url: &url };
    let message = match link.build(settings.link_minutes) {
        Ok(message) => message,
        Err(e) => {
            warn!(error = %e, "consola: no se pudo armar el correo con el enlace");
            return Asked::Failed;
        }
    };
    let sender = match Sender::new(smtp) {
        Ok(sender) => sender,
        Err(e) => {
            warn!(buzon = %buzon.name, error = %e, "consola: el SMTP del buzón no sirve para enviar enlaces");
            return Asked::Failed;
        }
    };
    let sent = sender.send(&buzon.address, std::slice::from_ref(&person.address), &message).await;
    sender.close().await;
    match sent {
        Ok(_) => Asked::Answered,
        Err(e) => {
            // The server's reply may quote the recipient: only where and which code.
            warn!(
                buzon = %buzon.name,
                servidor = %sender.server(),
                codigo = ?e.code(),
                temporal = e.is_transient(),
                "consola: no se pudo enviar el enlace para entrar"
            );
            Asked::Failed
        }
    }
}

/// The mail with a sign-in link.
struct LinkMail<'a> {
    from: &'a Buzon,
    smtp: &'a SmtpSettings,
    to: &'a str,
    name: &'a str,
    url: &'a str,
}

impl LinkMail<'_> {
    /// RFC 5322 bytes: text and HTML, 8bit so the URL stays whole on its line.
    fn build(&self, minutes: u32) -> Result<Vec<u8>, String> {
        let from_address = self.from.address.parse().map_err(|e| format!("remitente: {e}"))?;
        let from_name = Some(self.smtp.sender_name.trim().to_string()).filter(|n| !n.is_empty());
        let to = self.to.parse().map_err(|e| format!("destinatario: {e}"))?;
        let domain = self.from.address.rsplit('@').next().unwrap_or("mesa-fe.invalid");
        let message_id = format!("<consola.{}@{domain}>", &random_token()[..24]);
        let text = self.text(minutes);
        let html = self.html(minutes);
        Message::builder()
            .from(Mailbox::new(from_name, from_address))
            .to(Mailbox::new(None, to))
            .subject(SUBJECT)
            .message_id(Some(message_id))
            .date_now()
            .raw_header(raw_header("Auto-Submitted", "auto-generated"))
            .raw_header(raw_header("X-Auto-Response-Suppress", "All"))
            .multipart(
                MultiPart::alternative()
                    .singlepart(eight_bit(ContentType::TEXT_PLAIN, text))
                    .singlepart(eight_bit(ContentType::TEXT_HTML, html)),
            )
            .map(|m| m.formatted())
            .map_err(|e| e.to_string())
    }

    fn text(&self, minutes: u32) -> String {
        format!(
            "Hola, {name}:\n\n\
             Se pidió entrar a la consola de mesa-fe con esta dirección. Para entrar, abra este \
             enlace y confirme con el botón «Entrar»:\n\n\
             {url}\n\n\
             El enlace vale {minutes} minutos y sirve una sola vez.\n\n\
             Si usted no lo pidió, ignore este correo: sin el enlace nadie entra.\n\n\
             -- \nmesa-fe · Mesa de ayuda de Facturación Electrónica\n",
            name = self.name,
            url = self.url,
        )
    }

    fn html(&self, minutes: u32) -> String {
        let (name, url) = (escape(self.name), escape(self.url));
        format!(
            "<!doctype html><html lang=\"es\"><head><meta charset=\"utf-8\"><title>{SUBJECT}</title></head><body>\n\
             <p>Hola, {name}:</p>\n\
             <p>Se pidió entrar a la consola de mesa-fe con esta dirección. Para entrar, abra este \
             enlace y confirme con el botón «Entrar»:</p>\n\
             <p><a href=\"{url}\">{url}</a></p>\n\
             <p>El enlace vale {minutes} minutos y sirve una sola vez.</p>\n\
             <p>Si usted no lo pidió, ignore este correo: sin el enlace nadie entra.</p>\n\
             <p>mesa-fe · Mesa de ayuda de Facturación Electrónica</p>\n</body></html>\n"
        )
    }
}

/// A part sent as 8bit, as written: lettre would quote-print any line over 76 characters, and the
/// link must stay whole on its line for whoever reads the raw message (RFC 5322 allows 998).
fn eight_bit(content_type: ContentType, text: String) -> SinglePart {
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    let fits = crlf.split("\r\n").all(|line| line.len() <= 998) && !crlf.contains('\0');
    let body = if fits {
        Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::EightBit)
    } else {
        Body::new(text)
    };
    SinglePart::builder().header(content_type).body(body)
}

fn raw_header(name: &'static str, value: &str) -> MailHeader {
    MailHeader::new(HeaderName::new_from_ascii_str(name), value.to_string())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `GET /consola/entrar/{token}`: the button that spends the link, or why it is no longer good.
async fn confirm(
    State(state): State<Arc<HttpState>>,
    Path(token): Path<String>,
    Query(back): Query<Back>,
) -> Response {
    let volver = safe_return(&back.volver).unwrap_or_default();
    match state.store.console_link_usable(&token_hash(&token)).await {
        Ok(true) => page::render_anonymous(
            StatusCode::OK,
            "entrar_confirmar.html",
            context! { token, volver },
        ),
        Ok(false) => spent(),
        Err(e) => unavailable(&e),
    }
}

fn spent() -> Response {
    page::render_anonymous(
        StatusCode::BAD_REQUEST,
        "entrar_confirmar.html",
        context! { spent => true },
    )
}

fn unavailable(error: &crate::store::StoreError) -> Response {
    warn!(error = %error, "consola: la base de datos no respondió al entrar");
    page::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "La base de datos no respondió; intente de nuevo en un momento.",
    )
}

/// `POST /consola/entrar/{token}`: spends the link and opens a session.
async fn enter(
    State(state): State<Arc<HttpState>>,
    Path(token): Path<String>,
    Form(back): Form<Back>,
) -> Response {
    let address = match state.store.consume_console_link(&token_hash(&token)).await {
        Ok(Some(address)) => address,
        Ok(None) => return spent(),
        Err(e) => return unavailable(&e),
    };
    if session::person(&state, &address).is_none() {
        return page::error(
            StatusCode::FORBIDDEN,
            "Su dirección ya no es la de un agente o coordinador de la configuración.",
        );
    }
    let desk = state.live.desk();
    let hours = i64::from(desk.config.consola.session_hours);
    let (session_token, csrf) = (random_token(), random_token());
    let expires = Utc::now() + chrono::Duration::hours(hours);
    let hash = token_hash(&session_token);
    if let Err(e) = state.store.create_console_session(&address, &hash, &csrf, expires).await {
        return unavailable(&e);
    }
    let secure = cookie_secure(&base_url(&desk.config));
    let cookie = session_cookie(&session_token, hours * 3600, secure);
    let target = safe_return(&back.volver).unwrap_or(HOME);
    with_cookie(Redirect::to(target).into_response(), &cookie)
}

/// `POST /consola/salir`.
async fn leave(
    State(state): State<Arc<HttpState>>,
    viewer: Viewer,
    Form(form): Form<Csrf>,
) -> Response {
    if let Err(refused) = viewer.require_csrf(&form._csrf) {
        return refused;
    }
    if let Err(e) = state.store.end_console_session(viewer.session_id).await {
        return unavailable(&e);
    }
    let desk = state.live.desk();
    let secure = cookie_secure(&base_url(&desk.config));
    with_cookie(Redirect::to("/consola/entrar").into_response(), &session_cookie("", 0, secure))
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_secure_except_over_http_on_loopback() {
        for local in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://localhost:3000/",
            "http://[::1]:8080",
            "HTTP://LOCALHOST",
        ] {
            assert!(!cookie_secure(local), "{local}");
        }
        for public in [
            "https://mesa.example",
            "https://127.0.0.1:8443",
            "http://mesa.example",
            "http://10.0.0.5:8080",
            "http://localhost.evil.example",
            "http://127.0.0.1@evil.example",
            "",
        ] {
            assert!(cookie_secure(public), "{public}");
        }
    }

    #[test]
    fn only_a_path_of_the_console_is_followed_after_signing_in() {
        assert_eq!(
            safe_return("/consola/caso/FE-2026-000001"),
            Some("/consola/caso/FE-2026-000001")
        );
        assert_eq!(safe_return("/consola/bandeja?q=x"), Some("/consola/bandeja?q=x"));
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/consola//evil.example",
            "/consola/\\evil.example",
            "/consola/../x",
            "/otra",
            "",
            "/consola/a b",
        ] {
            assert_eq!(safe_return(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_links_leave_from_the_named_buzon_or_the_first_with_smtp() {
        let mut config = Config::builtin().expect("config");
        for buzon in &mut config.buzones {
            buzon.smtp = None;
        }
        assert!(link_buzon(&config).is_none());
        let smtp: SmtpSettings =
            toml::from_str("servidor = \"127.0.0.1\"\npuerto = 25\ntls = \"ninguno\"")
                .expect("smtp");
        let last = config.buzones.len() - 1;
        assert!(last > 0, "the built-in configuration has several buzones");
        config.buzones[last].smtp = Some(smtp.clone());
        let first_with_smtp = config.buzones[last].name.clone();
        assert_eq!(link_buzon(&config).map(|(b, _)| b.name.clone()), Some(first_with_smtp));
        config.consola.buzon = config.buzones[0].name.clone();
        assert!(link_buzon(&config).is_none(), "the named buzón has no SMTP");
        config.buzones[0].smtp = Some(smtp);
        let named = config.buzones[0].name.clone();
        assert_eq!(link_buzon(&config).map(|(b, _)| b.name.clone()), Some(named));
    }

    #[test]
    fn the_session_cookie_is_http_only_strict_and_scoped_to_the_console() {
        let cookie = session_cookie("abc", 3600, false);
        assert_eq!(
            cookie,
            "mesa_fe_sesion=abc; Path=/consola; HttpOnly; SameSite=Strict; Max-Age=3600"
        );
        assert!(session_cookie("abc", 3600, true).ends_with("; Secure"));
    }
}
