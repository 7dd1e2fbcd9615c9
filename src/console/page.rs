//! The console's pages: the layout every page extends, rendering, error pages, the embedded
//! assets and the headers every answer carries (CSP `default-src 'self'`, no caching, no
//! referrer: a search's words never leave in a `Referer`).

use std::sync::OnceLock;

use axum::extract::{Path, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use serde::Serialize;

use super::session::Viewer;

/// The templates, embedded: `(name, text)`. A page's template extends `base.html`.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("bandeja.html", include_str!("templates/bandeja.html")),
    ("error.html", include_str!("templates/error.html")),
    ("operacion.html", include_str!("templates/operacion.html")),
    ("operacion_cuarentena.html", include_str!("templates/operacion_cuarentena.html")),
    ("masivas.html", include_str!("templates/masivas.html")),
    ("masivas_vincular.html", include_str!("templates/masivas_vincular.html")),
    ("masivas_padre.html", include_str!("templates/masivas_padre.html")),
    ("conocimiento.html", include_str!("templates/conocimiento.html")),
    ("entrar.html", include_str!("templates/entrar.html")),
    ("entrar_enviado.html", include_str!("templates/entrar_enviado.html")),
    ("entrar_confirmar.html", include_str!("templates/entrar_confirmar.html")),
    ("caso.html", include_str!("templates/caso.html")),
];

/// The static files, embedded: `(name, content type, bytes)`.
const ASSETS: &[(&str, &str, &str)] = &[
    ("consola.css", "text/css; charset=utf-8", include_str!("static/consola.css")),
    ("consola.js", "text/javascript; charset=utf-8", include_str!("static/consola.js")),
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        env.add_filter("estado", |status: String| {
            crate::desk::case::Status::parse(&status).map_or(status, |s| s.label().to_string())
        });
        for (name, text) in TEMPLATES {
            // The templates are part of the binary: a broken one fails its page test.
            if let Err(e) = env.add_template(name, text) {
                tracing::error!(template = name, error = %e, "plantilla de la consola inválida");
            }
        }
        env
    })
}

/// What the layout needs of the viewer (name, CSRF token for the sign-out form, role marks).
#[derive(Debug, Serialize)]
struct Who<'a> {
    name: &'a str,
    address: &'a str,
    csrf: &'a str,
    coordinator: bool,
    security: bool,
}

/// Renders `template` for `viewer`, with `section` marked in the navigation. `page` is the
/// page's own context (reachable as `page.…` in the template).
pub fn render<S: Serialize>(viewer: &Viewer, section: &str, template: &str, page: S) -> Response {
    let who = Who {
        name: &viewer.name,
        address: &viewer.address,
        csrf: &viewer.csrf,
        coordinator: viewer.coordinates_any(),
        security: viewer.security,
    };
    let (who, page) = (Value::from(Serde(&who)), Value::from(Serde(&page)));
    render_with(StatusCode::OK, template, context! { who, section, page })
}

/// Renders a page that has no viewer (the sign-in form, errors).
pub fn render_anonymous<S: Serialize>(status: StatusCode, template: &str, page: S) -> Response {
    let page = Value::from(Serde(&page));
    render_with(status, template, context! { page })
}

fn render_with(status: StatusCode, template: &str, ctx: Value) -> Response {
    let rendered = environment().get_template(template).and_then(|t| t.render(ctx));
    match rendered {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template, error = %e, "consola: no se pudo mostrar la página");
            (StatusCode::INTERNAL_SERVER_ERROR, "Error interno al mostrar la página.")
                .into_response()
        }
    }
}

/// An error page: what happened and what the person can do, with the status.
pub fn error(status: StatusCode, message: &str) -> Response {
    let title = match status {
        StatusCode::UNAUTHORIZED => "Inicie sesión",
        StatusCode::FORBIDDEN => "Sin permiso",
        StatusCode::NOT_FOUND => "No existe",
        StatusCode::TOO_MANY_REQUESTS => "Demasiadas solicitudes",
        StatusCode::BAD_REQUEST => "Solicitud inválida",
        _ => "Error",
    };
    render_anonymous(status, "error.html", context! { title, message, code => status.as_u16() })
}

/// `/consola/static/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => (
            [(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "max-age=3600")],
            *body,
        )
            .into_response(),
        None => error(StatusCode::NOT_FOUND, "Ese archivo no existe."),
    }
}

/// Headers of every console answer: no script or style from elsewhere, no framing, no caching
/// of case data, no `Referer` with a search's words.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name, value: &'static str| {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::CACHE_CONTROL, "no-store");
    response
}

/// The access log: method, path without its query string (search words, addresses, NITs and
/// CUFEs travel in queries and forms, never in this line), status and time.
pub async fn access_log(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let original = request.extensions().get::<axum::extract::OriginalUri>();
    let path = original.map_or(request.uri().path(), |uri| uri.path()).to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        target: "mesa_fe::consola::acceso",
        %method,
        path = %loggable_path(&path),
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "consola"
    );
    response
}

/// A path as logged: a segment that could name a person or a document (an address, a NIT, a
/// CUFE, a token) is replaced by `…`; case numbers and page names stay.
pub fn loggable_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let secret = segment.contains('@')
                || segment.contains('%')
                || (segment.len() >= 6 && segment.chars().all(|c| c.is_ascii_digit()))
                || (segment.len() >= 32 && !segment.starts_with("FE-"));
            if secret { "…" } else { segment }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_template_compiles() {
        for (name, _) in TEMPLATES {
            assert!(environment().get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn a_logged_path_keeps_case_numbers_and_hides_addresses_nits_and_tokens() {
        assert_eq!(loggable_path("/consola/caso/FE-2026-000012"), "/consola/caso/FE-2026-000012");
        assert_eq!(loggable_path("/consola/x/ana@pt.example"), "/consola/x/…");
        assert_eq!(loggable_path("/consola/nit/900123456"), "/consola/nit/…");
        let token = "a".repeat(43);
        assert_eq!(loggable_path(&format!("/consola/entrar/{token}")), "/consola/entrar/…");
    }
}
