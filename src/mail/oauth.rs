//! OAuth2 access tokens for XOAUTH2 (Microsoft 365, Google), obtained with the client-credentials
//! grant from the configured token endpoint, cached and refreshed before they expire.
//!
//! One [`TokenSource`] per buzón. [`TokenSource::token`] returns the cached token while it has
//! more than [`REFRESH_MARGIN_MAX`] (or 10 % of its lifetime, whichever is smaller) left, and asks
//! the endpoint for a new one otherwise; concurrent callers wait for one request. When the IMAP
//! server rejects a token (revoked, clock skew), [`TokenSource::invalidate`] makes the next call
//! fetch a fresh one. Errors carry the HTTP status and the server's `error` /
//! `error_description`, never the client secret or a token.
//!
//! HTTP/1.1 with reqwest over rustls (ring provider, the same roots as the IMAP connection);
//! redirects are not followed (the request carries the client secret).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::config::OAuth2Settings;
use crate::secrets::{self, Secret};

/// A token is refreshed when less than this is left…
pub const REFRESH_MARGIN_MAX: Duration = Duration::from_secs(5 * 60);
/// …or less than this fraction (1/N) of its lifetime, if that is smaller (short-lived tokens).
const REFRESH_FRACTION: u32 = 10;
/// Lifetime assumed when the endpoint sends no `expires_in` (RFC 6749 makes it optional).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A token response is a few KiB; anything bigger is not one.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// `error_description` is cut here before it goes into a log line.
const MAX_DESCRIPTION_CHARS: usize = 300;

/// Why no token could be had. Retriable unless [`OAuthError::is_retriable`] says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// DNS, TCP, TLS or a timeout on the way to the token endpoint.
    #[error("no se pudo pedir un token OAuth2 a {url}: {detail}")]
    Connection { url: String, detail: String },
    /// The endpoint answered with an HTTP error.
    #[error(
        "el servidor de tokens OAuth2 {url} rechazó la solicitud (HTTP {status}{}){}",
        describe(error.as_deref(), description.as_deref()),
        hint(*status)
    )]
    Rejected { url: String, status: u16, error: Option<String>, description: Option<String> },
    /// A 2xx answer that is not a usable token response.
    #[error("respuesta inválida del servidor de tokens OAuth2 {url}: {detail}")]
    InvalidResponse { url: String, detail: String },
    /// Settings that cannot work (secret missing, bad URL).
    #[error("configuración OAuth2 inválida: {0}")]
    Config(String),
}

impl OAuthError {
    /// `false` when asking again cannot help before the operator fixes something (configuration,
    /// a client the endpoint refuses).
    pub fn is_retriable(&self) -> bool {
        match self {
            OAuthError::Config(_) => false,
            OAuthError::Rejected { status, .. } => {
                !matches!(status, 400 | 401 | 403) // invalid_client, invalid_scope, …
            }
            OAuthError::Connection { .. } | OAuthError::InvalidResponse { .. } => true,
        }
    }
}

fn describe(error: Option<&str>, description: Option<&str>) -> String {
    match (error, description) {
        (Some(e), Some(d)) => format!(": {e} — {d}"),
        (Some(e), None) => format!(": {e}"),
        (None, Some(d)) => format!(": {d}"),
        (None, None) => String::new(),
    }
}

fn hint(status: u16) -> &'static str {
    match status {
        400 | 401 | 403 => "; revise client_id, el secreto y el alcance en [buzones.imap.oauth2]",
        _ => "",
    }
}

/// Cached client-credentials token for one buzón.
pub struct TokenSource {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: Secret,
    scope: String,
    cached: Mutex<Option<Cached>>,
    clock: Clock,
}

struct Cached {
    token: Secret,
    obtained: Instant,
    expires: Instant,
}

impl Cached {
    /// Less than the refresh margin left (or already expired).
    fn due(&self, now: Instant) -> bool {
        let lifetime = self.expires.saturating_duration_since(self.obtained);
        let margin = REFRESH_MARGIN_MAX.min(lifetime / REFRESH_FRACTION);
        self.expires.saturating_duration_since(now) <= margin
    }
}

impl TokenSource {
    /// Loads the client secret now (a missing secret fails at start-up); trusts the bundled
    /// public roots.
    pub fn new(settings: &OAuth2Settings) -> Result<TokenSource, OAuthError> {
        let tls = super::imap::tls_config(None).map_err(|e| OAuthError::Config(e.to_string()))?;
        TokenSource::with_tls(settings, tls)
    }

    /// Like [`TokenSource::new`], with the TLS configuration of the IMAP connection (so a
    /// configured `ca` is trusted by the token endpoint too).
    pub fn with_tls(
        settings: &OAuth2Settings,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<TokenSource, OAuthError> {
        check_url(&settings.token_url)?;
        let client_secret = secrets::load(&settings.client_secret)
            .map_err(|e| OAuthError::Config(format!("secreto de oauth2: {e}")))?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mesa-fe/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OAuthError::Config(format!("cliente HTTP: {}", root_cause(&e))))?;
        Ok(TokenSource {
            http,
            token_url: settings.token_url.clone(),
            client_id: settings.client_id.clone(),
            client_secret,
            scope: settings.scope.clone(),
            cached: Mutex::new(None),
            clock: Clock::default(),
        })
    }

    /// A token with at least the refresh margin left: the cached one, or a new one.
    pub async fn token(&self) -> Result<Secret, OAuthError> {
        let mut cached = self.cached.lock().await;
        let now = self.clock.now();
        if let Some(c) = cached.as_ref().filter(|c| !c.due(now)) {
            return Ok(c.token.clone());
        }
        let fresh = self.request().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forgets the cached token: the IMAP server refused it, so the next [`TokenSource::token`]
    /// asks the endpoint again.
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// One POST to the token endpoint.
    async fn request(&self) -> Result<Cached, OAuthError> {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ];
        if !self.scope.is_empty() {
            form.push(("scope", self.scope.as_str()));
        }
        let obtained = self.clock.now();
        let mut response = self
            .http
            .post(&self.token_url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| self.connection_error(&e))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.connection_error(&e))? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(self.invalid(format!("más de {MAX_RESPONSE_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        if !status.is_success() {
            let field = |name: &str| {
                json.as_ref()
                    .and_then(|j| j.get(name))
                    .and_then(|v| v.as_str())
                    .map(|s| clean(s, MAX_DESCRIPTION_CHARS))
                    .filter(|s| !s.is_empty())
            };
            return Err(OAuthError::Rejected {
                url: self.token_url.clone(),
                status: status.as_u16(),
                error: field("error"),
                description: field("error_description"),
            });
        }
        let json = json.ok_or_else(|| self.invalid("no es JSON".into()))?;
        parse_token(&json, obtained).map_err(|detail| self.invalid(detail))
    }

    fn connection_error(&self, e: &reqwest::Error) -> OAuthError {
        let cause = root_cause(e);
        let detail = if e.is_timeout() {
            format!("tiempo de espera agotado ({cause})")
        } else if cause.contains("certificate") || cause.contains("Certificate") {
            format!(
                "no se pudo verificar el certificado del servidor ({cause}); revise `ca` en la \
                 configuración del buzón"
            )
        } else {
            cause
        };
        OAuthError::Connection { url: self.token_url.clone(), detail }
    }

    fn invalid(&self, detail: String) -> OAuthError {
        OAuthError::InvalidResponse { url: self.token_url.clone(), detail }
    }

    #[cfg(test)]
    fn advance_clock(&self, by: Duration) {
        self.clock.advance(by);
    }
}

/// `access_token`, `expires_in` (number or numeric string) and `token_type` (must be Bearer
/// when present).
fn parse_token(json: &serde_json::Value, obtained: Instant) -> Result<Cached, String> {
    let token = json
        .get("access_token")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
        .ok_or("falta access_token")?;
    if token.chars().any(|c| c.is_control() || c == '\u{1}') {
        return Err("access_token con caracteres de control".into());
    }
    if let Some(kind) = json.get("token_type") {
        let kind = kind.as_str().ok_or("token_type no es texto")?;
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(format!("token_type \"{}\" (XOAUTH2 necesita Bearer)", clean(kind, 40)));
        }
    }
    let lifetime = match json.get("expires_in") {
        None | Some(serde_json::Value::Null) => DEFAULT_LIFETIME,
        Some(v) => {
            let seconds = v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or("expires_in no es un número de segundos")?;
            Duration::from_secs(seconds)
        }
    };
    Ok(Cached { token: Secret::new(token), obtained, expires: obtained + lifetime })
}

/// Only https, or http to a loopback address (tests, a local token proxy).
fn check_url(url: &str) -> Result<(), OAuthError> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Err(OAuthError::Config(format!("url_token \"{url}\" no es una URL")));
    };
    let loopback =
        parsed.host_str().is_some_and(|h| crate::config::is_loopback(h.trim_matches(['[', ']'])));
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(OAuthError::Config(format!(
            "url_token \"{url}\" debe ser https:// (http solo hacia 127.0.0.1)"
        ))),
    }
}

/// The innermost error's text: reqwest's own Display only says "error sending request".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

/// Server text made safe for one log line: no control characters, at most `max` chars.
fn clean(s: &str, max: usize) -> String {
    let mut out: String =
        s.chars().map(|c| if c.is_control() { ' ' } else { c }).take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out.trim().to_string()
}

/// Monotonic time; tests move it forward instead of sleeping.
#[derive(Default)]
struct Clock {
    #[cfg(test)]
    offset: std::sync::Mutex<Duration>,
}

impl Clock {
    fn now(&self) -> Instant {
        #[cfg(test)]
        {
            let offset = *self.offset.lock().unwrap_or_else(|p| p.into_inner());
            Instant::now() + offset
        }
        #[cfg(not(test))]
        Instant::now()
    }

    #[cfg(test)]
    fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::config::SecretRef;

    /// A one-connection-at-a-time HTTP token endpoint on 127.0.0.1: answers every request with
    /// `reply(n)` (n = 1, 2, …) and keeps the request bodies.
    struct Endpoint {
        url: String,
        requests: Arc<AtomicUsize>,
        bodies: Arc<std::sync::Mutex<Vec<String>>>,
    }

    async fn endpoint(reply: impl Fn(usize) -> (u16, String) + Send + Sync + 'static) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (count, kept) = (requests.clone(), bodies.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let mut buf = Vec::new();
                let body = loop {
                    let mut chunk = [0u8; 4096];
                    let n = socket.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        break None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            break Some(body.to_string());
                        }
                    }
                };
                let Some(body) = body else { continue };
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                kept.lock().unwrap().push(body);
                let (status, json) = reply(n);
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{json}",
                    json.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        Endpoint { url, requests, bodies }
    }

    fn source(url: &str, dir: &tempfile::TempDir) -> TokenSource {
        let secret = dir.path().join("secreto");
        std::fs::write(&secret, "s3cr3t&=+ é\n").unwrap();
        let settings = OAuth2Settings {
            token_url: url.into(),
            client_id: "mesa-fe".into(),
            client_secret: SecretRef { file: Some(secret), ..SecretRef::default() },
            scope: "https://outlook.office365.com/.default".into(),
        };
        TokenSource::new(&settings).unwrap()
    }

    fn ok(n: usize, expires_in: u64) -> (u16, String) {
        (
            200,
            format!(
                r#"{{"access_token":"tok-{n}","expires_in":{expires_in},"token_type":"Bearer"}}"#
            ),
        )
    }

    #[tokio::test]
    async fn sends_the_client_credentials_form() {
        let ep = endpoint(|n| ok(n, 3600)).await;
        let dir = tempfile::tempdir().unwrap();
        let tokens = source(&ep.url, &dir);
        assert_eq!(tokens.token().await.unwrap().expose(), "tok-1");
        let body = ep.bodies.lock().unwrap()[0].clone();
        let pairs: Vec<(String, String)> = reqwest::Url::parse(&format!("http://x/?{body}"))
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("grant_type"), Some("client_credentials"));
        assert_eq!(get("client_id"), Some("mesa-fe"));
        assert_eq!(get("client_secret"), Some("s3cr3t&=+ é"));
        assert_eq!(get("scope"), Some("https://outlook.office365.com/.default"));
    }

    #[tokio::test]
    async fn caches_until_the_margin_then_refreshes() {
        let ep = endpoint(|n| ok(n, 3600)).await;
        let dir = tempfile::tempdir().unwrap();
        let tokens = source(&ep.url, &dir);
        for _ in 0..5 {
            assert_eq!(tokens.token().await.unwrap().expose(), "tok-1");
        }
        assert_eq!(ep.requests.load(Ordering::SeqCst), 1, "cached");
        // 54 min later: 6 min left, more than the 5-minute margin.
        tokens.advance_clock(Duration::from_secs(54 * 60));
        assert_eq!(tokens.token().await.unwrap().expose(), "tok-1");
        // 56 min: 4 min left, inside the margin → a new token.
        tokens.advance_clock(Duration::from_secs(2 * 60));
        assert_eq!(tokens.token().await.unwrap().expose(), "tok-2");
        assert_eq!(ep.requests.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn short_lived_tokens_use_ten_percent() {
        // 100 s lifetime: margin 10 s (not 5 minutes, which would refresh on every call).
        let ep = endpoint(|n| ok(n, 100)).await;
        let dir = tempfile::tempdir().unwrap();
        let tokens = source(&ep.url, &dir);
        assert_eq!(tokens.token().await.unwrap().expose(), "tok-1");
        tokens.advance_clock(Duration::from_secs(85));
        assert_eq!(tokens.token().await.unwrap().expose(), "tok-1");
        tokens.advance_clock(Duration::from_secs(6));
        assert_eq!(tokens.token().await.unwrap().expose(), "tok-2");
    }

    #[tokio::test]
    async fn invalidate_forces_a_new_token() {
        let ep = endpoint(|n| ok(n, 3600)).await;
        let dir = tempfile::tempdir().unwrap();
        let tokens = source(&ep.url, &dir);
        assert_eq!(tokens.token().await.unwrap().expose(), "tok-1");
        tokens.invalidate().await;
        assert_eq!(tokens.token().await.unwrap().expose(), "tok-2");
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_request() {
        let ep = endpoint(|n| ok(n, 3600)).await;
        let dir = tempfile::tempdir().unwrap();
        let tokens = Arc::new(source(&ep.url, &dir));
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let t = tokens.clone();
                tokio::spawn(async move { t.token().await.unwrap().expose().to_string() })
            })
            .collect();
        for call in calls {
            assert_eq!(call.await.unwrap(), "tok-1");
        }
        assert_eq!(ep.requests.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_refused_refresh_surfaces_status_and_error_without_secrets() {
        let ep = endpoint(|n| {
            if n == 1 {
                ok(n, 600)
            } else {
                (
                    401,
                    r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#.into(),
                )
            }
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let tokens = source(&ep.url, &dir);
        assert_eq!(tokens.token().await.unwrap().expose(), "tok-1");
        tokens.advance_clock(Duration::from_secs(590));
        let err = tokens.token().await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(&err, OAuthError::Rejected { status: 401, error: Some(e), .. } if e == "invalid_client"),
            "{err:?}"
        );
        assert!(text.contains("HTTP 401") && text.contains("AADSTS7000215"), "{text}");
        assert!(text.contains("revise client_id"), "{text}");
        assert!(!text.contains("s3cr3t") && !text.contains("tok-1"), "{text}");
        assert!(!err.is_retriable());
    }

    #[tokio::test]
    async fn server_errors_and_bad_bodies() {
        let ep = endpoint(|n| match n {
            1 => (503, "<html>mantenimiento</html>".into()),
            2 => (200, "no es json".into()),
            3 => (200, r#"{"token_type":"Bearer"}"#.into()),
            4 => (200, r#"{"access_token":"x","token_type":"mac"}"#.into()),
            _ => (200, r#"{"access_token":"tok-s","expires_in":"3599"}"#.into()),
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let tokens = source(&ep.url, &dir);
        let err = tokens.token().await.unwrap_err();
        assert!(matches!(err, OAuthError::Rejected { status: 503, error: None, .. }), "{err:?}");
        assert!(err.is_retriable());
        let err = tokens.token().await.unwrap_err();
        assert!(err.to_string().contains("no es JSON"), "{err}");
        let err = tokens.token().await.unwrap_err();
        assert!(err.to_string().contains("falta access_token"), "{err}");
        let err = tokens.token().await.unwrap_err();
        assert!(err.to_string().contains("Bearer"), "{err}");
        // expires_in as a string (some Azure endpoints), token_type missing: accepted.
        assert_eq!(tokens.token().await.unwrap().expose(), "tok-s");
    }

    #[tokio::test]
    async fn unreachable_endpoint_is_a_connection_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        drop(listener);
        let dir = tempfile::tempdir().unwrap();
        let err = source(&url, &dir).token().await.unwrap_err();
        assert!(matches!(err, OAuthError::Connection { .. }), "{err:?}");
        assert!(err.is_retriable());
    }

    #[test]
    fn only_https_or_loopback_http() {
        assert!(check_url("https://login.microsoftonline.com/t/oauth2/v2.0/token").is_ok());
        assert!(check_url("http://127.0.0.1:8080/token").is_ok());
        assert!(check_url("http://localhost/token").is_ok());
        assert!(check_url("http://[::1]:1/token").is_ok());
        assert!(check_url("http://login.example.com/token").is_err());
        assert!(check_url("http://127.0.0.1.example.com/token").is_err());
        assert!(check_url("ftp://127.0.0.1/token").is_err());
        assert!(check_url("no es url").is_err());
    }

    #[test]
    fn missing_secret_is_a_config_error() {
        let settings = OAuth2Settings {
            token_url: "https://login.example.com/token".into(),
            client_id: "x".into(),
            client_secret: SecretRef {
                env: Some("MESA_FE_PRUEBA_SIN_DEFINIR_91c2".into()),
                ..SecretRef::default()
            },
            scope: String::new(),
        };
        let err = TokenSource::new(&settings).err().unwrap();
        assert!(matches!(err, OAuthError::Config(_)), "{err:?}");
        assert!(err.to_string().contains("MESA_FE_PRUEBA_SIN_DEFINIR_91c2"));
        assert!(!err.is_retriable());
    }
}
