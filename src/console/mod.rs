//! The web console of agents and coordinators (issue 15), served by the daemon under
//! `/consola` on `http.direccion`: server-rendered pages (minijinja templates embedded in the
//! binary), one small script for progressive enhancement, no CDN.
//!
//! - [`session`]: who is looking ([`session::Viewer`]), cookies, tokens, CSRF.
//! - [`page`]: the layout, rendering, error pages and the security headers every answer has.
//!
//! Every action is the engine's ([`crate::pipeline::Desk::apply_action`] with
//! [`crate::pipeline::Via::Console`]) and every page shows only what the viewer may see
//! ([`crate::pipeline::Desk::sees`]), exactly as for mail.

pub mod bandeja;
pub mod caso;
pub mod caso_actions;
pub mod conocimiento;
pub mod masivas;
pub mod operacion;
pub mod page;
pub mod session;
pub mod signin;
pub mod svg;

use std::sync::Arc;

use axum::Router;
use axum::response::Redirect;
use axum::routing::get;

use crate::http::HttpState;

/// The console's routes, nested under `/consola` by [`crate::http::router`].
pub fn router() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/consola/bandeja") }))
        .merge(bandeja::routes())
        .route("/static/{name}", get(page::asset))
        .merge(session::routes())
        .merge(operacion::routes())
        .merge(masivas::routes())
        .merge(conocimiento::routes())
        .merge(caso::routes())
}
