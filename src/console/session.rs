//! Who is looking at the console: the session cookie read back into a [`Viewer`] (a configured
//! agent, coordinator or Administración Técnica), the tokens of links and sessions, CSRF.

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::page;
use crate::desk::levels::Actor;
use crate::http::HttpState;

/// The session cookie's name.
pub const COOKIE: &str = "mesa_fe_sesion";

/// A signed-in person, as the configuration knows them now (someone removed from it loses the
/// console at once, even with a live session).
#[derive(Debug, Clone)]
pub struct Viewer {
    pub session_id: i64,
    pub address: String,
    /// The agent's name, or the address for a coordinator who is not an agent.
    pub name: String,
    /// How the engine sees them (the same as their mail commands).
    pub actor: Actor,
    /// Groups whose cases they see: their own as an agent and those they coordinate.
    pub groups: Vec<String>,
    /// Groups they coordinate.
    pub coordinates: Vec<String>,
    /// Member of the security group (the only one that sees security cases).
    pub security: bool,
    /// The token every form of this session carries.
    pub csrf: String,
}

impl Viewer {
    /// Whether a form's `_csrf` field is this session's token (constant time).
    pub fn csrf_ok(&self, sent: &str) -> bool {
        let (a, b) = (self.csrf.as_bytes(), sent.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// `Err(403 page)` unless the form carries this session's CSRF token: every POST handler
    /// calls it before anything else.
    #[allow(clippy::result_large_err)]
    pub fn require_csrf(&self, sent: &str) -> Result<(), Response> {
        if self.csrf_ok(sent) {
            Ok(())
        } else {
            Err(page::error(
                StatusCode::FORBIDDEN,
                "El formulario no trae el código de esta sesión (CSRF). Nada cambió: vuelva a la \
                 página, recárguela y envíe el formulario de nuevo.",
            ))
        }
    }

    pub fn coordinates_any(&self) -> bool {
        !self.coordinates.is_empty()
    }
}

/// Who may sign in, from the configuration: their name, groups and role; `None` for anyone else.
pub fn person(state: &HttpState, address: &str) -> Option<Person> {
    let desk = state.live.desk();
    let config = &desk.config;
    let address = address.trim().to_lowercase();
    let actor = desk.actor(&address)?;
    let agent = config.agent(&address);
    let coordinates: Vec<String> = config
        .grupos
        .iter()
        .filter(|g| g.coordinator.eq_ignore_ascii_case(&address))
        .map(|g| g.name.clone())
        .collect();
    let mut groups: Vec<String> = agent.map(|a| a.groups.clone()).unwrap_or_default();
    groups.extend(coordinates.iter().filter(|g| !groups.contains(g)).cloned().collect::<Vec<_>>());
    let security = config.in_group(&config.enrutamiento.security_group, &address);
    let name = agent.map_or_else(|| address.clone(), |a| a.name.clone());
    Some(Person { address, name, actor, groups, coordinates, security })
}

/// A person the configuration lets in (see [`person`]).
#[derive(Debug, Clone)]
pub struct Person {
    pub address: String,
    pub name: String,
    pub actor: Actor,
    pub groups: Vec<String>,
    pub coordinates: Vec<String>,
    pub security: bool,
}

impl FromRequestParts<Arc<HttpState>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<HttpState>,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(parts, COOKIE) else { return Err(unauthenticated(parts)) };
        let session = match state.store.console_session(&token_hash(&token)).await {
            Ok(Some(session)) => session,
            Ok(None) => return Err(unauthenticated(parts)),
            Err(e) => {
                tracing::warn!(error = %e, "consola: no se pudo leer la sesión");
                return Err(page::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "La base de datos no respondió; intente de nuevo en un momento.",
                ));
            }
        };
        let Some(p) = person(state, &session.address) else {
            return Err(page::error(
                StatusCode::FORBIDDEN,
                "Su dirección ya no es la de un agente o coordinador de la configuración.",
            ));
        };
        Ok(Viewer {
            session_id: session.id,
            address: p.address,
            name: p.name,
            actor: p.actor,
            groups: p.groups,
            coordinates: p.coordinates,
            security: p.security,
            csrf: session.csrf,
        })
    }
}

/// Without a session: a page read in a browser goes to the sign-in form (and back after it);
/// anything else is 401.
fn unauthenticated(parts: &Parts) -> Response {
    if parts.method == Method::GET {
        // Under `nest`, the URI lost its `/consola`: the original has it.
        let original = parts.extensions.get::<axum::extract::OriginalUri>();
        let back = original.map_or(parts.uri.path(), |uri| uri.path());
        let target = format!("/consola/entrar?volver={}", percent_encode(back));
        return Redirect::to(&target).into_response();
    }
    page::error(StatusCode::UNAUTHORIZED, "Inicie sesión para usar la consola.")
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// 32 random bytes from the OS generator, base64url: a link's or a session's token.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // Linux's getrandom does not fail; a zeroed token would still be unique per hash below only
    // by luck, so a failure is a panic of the request, never a weak token.
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .expect("el generador aleatorio del sistema no respondió");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Path-safe percent-encoding of a return address (only our own paths are ever encoded).
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Percent-encoding of one query-string value: everything but the unreserved characters.
pub fn query_encode(text: &str) -> String {
    percent_encode(text).replace('/', "%2F")
}

/// Sign-in and sign-out (issue 15: links by mail, sessions, `sesiones revocar`).
pub fn routes() -> Router<Arc<HttpState>> {
    super::signin::routes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_long_random_and_its_hash_is_hex_sha256() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        let hash = token_hash(&a);
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, token_hash(&b));
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_return_path_is_encoded_so_it_cannot_leave_the_console() {
        assert_eq!(percent_encode("/consola/caso/FE-2026-000001"), "/consola/caso/FE-2026-000001");
        assert_eq!(percent_encode("/x?y=1&z"), "/x%3Fy%3D1%26z");
    }
}
