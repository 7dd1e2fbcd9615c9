//! Rejection rules written as text ("Regla: FAD06, Rechazo: …").

use super::Rejection;

/// Finds DIAN rule lines in free text (a SOAP reply, a pasted log, an e-mail body).
pub fn rejections_in_text(_text: &str) -> Vec<Rejection> {
    Vec::new()
}
