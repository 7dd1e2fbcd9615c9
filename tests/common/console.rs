//! The console over HTTP without a mail server: the daemon's own router on a loopback port,
//! over a [`Fixture`]'s store and desk, and a session opened directly in the store (the sign-in
//! by mail is tested on its own).

use std::sync::Arc;

use mesa_fe::config::Config;
use mesa_fe::desk::knowledge::KnowledgeBase;
use mesa_fe::http::HttpState;
use mesa_fe::live::{self, Live, Setup};
use mesa_fe::pipeline::{Desk, Outcome};
use mesa_fe::store::Store;
use mesa_fe::telemetry::Telemetry;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::local::{Fixture, fixture};

/// Agents and coordinators of the built-in configuration, by what they may see.
pub const AGENT_FACTURA: &str = "ana.rojas@dian.gov.co";
pub const AGENT_NOMINA: &str = "carolina.pardo@dian.gov.co";
pub const AGENT_N3: &str = "jorge.salazar@dian.gov.co";
pub const AGENT_SEGURIDAD: &str = "marta.quintero@dian.gov.co";
pub const COORD_FACTURA: &str = "coord.factura@dian.gov.co";

pub struct ConsoleServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub fixture: Fixture,
    pub live: Live,
    /// No redirects followed: a test sees the 303 and where it points.
    pub client: reqwest::Client,
}

/// An answer read whole.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }
}

/// The console on a fresh store with the built-in configuration changed by `adjust`.
pub async fn console(adjust: impl FnOnce(&mut Config)) -> ConsoleServer {
    let fixture = fixture(adjust).await;
    let config = fixture.desk.config.clone();
    let desk = Desk::new(config, KnowledgeBase::builtin());
    let (_publisher, live) = live::channel(Setup::new(desk).expect("templates"));
    let state = Arc::new(HttpState {
        store: fixture.store.clone(),
        telemetry: Arc::new(Telemetry::default()),
        live: live.clone(),
        api_token: None,
        outbox_task: None,
        outbox_wake: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, mesa_fe::http::router(state)).await;
    });
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    ConsoleServer { base, fixture, live, client }
}

impl ConsoleServer {
    pub fn store(&self) -> &Store {
        &self.fixture.store
    }

    /// The desk the console acts with (the one its router reads).
    pub fn desk(&self) -> Arc<Desk> {
        self.live.desk()
    }

    /// A raw message through the pipeline of the console's desk.
    pub async fn ingest(&self, raw: &[u8]) -> Outcome {
        self.desk().ingest(self.store(), &self.fixture.origin, raw).await.expect("ingest")
    }

    /// A session for `address` opened in the store: the `Cookie` header value, and its CSRF
    /// token (what every form must carry).
    pub async fn session_for(&self, address: &str) -> (String, String) {
        let token = mesa_fe::console::session::random_token();
        let csrf = mesa_fe::console::session::random_token();
        let hash = mesa_fe::console::session::token_hash(&token);
        let until = chrono::Utc::now() + chrono::Duration::hours(1);
        self.store().create_console_session(address, &hash, &csrf, until).await.expect("session");
        (format!("{}={token}", mesa_fe::console::session::COOKIE), csrf)
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Page {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        read(request.send().await.expect("GET")).await
    }

    /// A form POST (`application/x-www-form-urlencoded`); repeated keys are kept.
    pub async fn post(&self, path: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> Page {
        let mut request = self.client.post(format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let body: String = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request =
            request.header("content-type", "application/x-www-form-urlencoded").body(body);
        read(request.send().await.expect("POST")).await
    }
}

async fn read(response: reqwest::Response) -> Page {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.expect("body");
    Page { status, headers, body }
}

/// `application/x-www-form-urlencoded` encoding of one key or value.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
