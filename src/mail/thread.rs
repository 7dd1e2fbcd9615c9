//! Our Message-IDs, signed: `<FE-2026-000123.r45.0.acuse_recibo.3f9a…@dominio>`, where the last
//! part of the local name is an HMAC of the rest under the desk's key. A reply that quotes one
//! (In-Reply-To / References) belongs to that case beyond doubt, whatever its subject says; an
//! inbound message whose own Message-ID verifies is our own mail coming back.

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Hex characters of the HMAC kept in the Message-ID (64 bits: guessing is hopeless).
const SIGNATURE_HEX: usize = 16;

/// Bytes of a generated key.
const KEY_BYTES: usize = 32;

/// Signs and verifies Message-IDs.
#[derive(Clone)]
pub struct MessageIds {
    key: Vec<u8>,
}

impl std::fmt::Debug for MessageIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MessageIds(«clave»)")
    }
}

/// The key file could not be read or created.
#[derive(Debug, thiserror::Error)]
#[error(
    "no se pudo leer ni crear la clave de firma de mensajes {path}: {detail}. Revise los permisos del directorio de estado o configure general.firma_mensajes"
)]
pub struct KeyError {
    pub path: String,
    pub detail: String,
}

impl MessageIds {
    pub fn new(key: impl Into<Vec<u8>>) -> MessageIds {
        MessageIds { key: key.into() }
    }

    /// A throw-away key: for `inspect` and tests, where nothing is sent.
    pub fn ephemeral() -> MessageIds {
        MessageIds::new((0..KEY_BYTES).map(|_| fastrand::u8(..)).collect::<Vec<u8>>())
    }

    /// The key in `path`, created (random, mode 0600) on first use.
    pub fn from_file(path: &Path) -> Result<MessageIds, KeyError> {
        let error = |detail: String| KeyError { path: path.display().to_string(), detail };
        match std::fs::read(path) {
            Ok(key) if key.len() >= 16 => return Ok(MessageIds::new(key)),
            Ok(_) => return Err(error("la clave es demasiado corta (menos de 16 bytes)".into())),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(error(e.to_string())),
            Err(_) => {}
        }
        let key: Vec<u8> = (0..KEY_BYTES).map(|_| fastrand::u8(..)).collect();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| error(e.to_string()))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| error(e.to_string()))?;
        std::io::Write::write_all(&mut file, &key).map_err(|e| error(e.to_string()))?;
        file.sync_all().map_err(|e| error(e.to_string()))?;
        Ok(MessageIds::new(key))
    }

    fn signature(&self, body: &str) -> String {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else { return String::new() };
        mac.update(body.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .take(SIGNATURE_HEX / 2)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// `<{case}.{detail}.{signature}@{domain}>`; `detail` must not contain `@` or `>`.
    pub fn sign(&self, case: &str, detail: &str, domain: &str) -> String {
        let body = format!("{case}.{detail}");
        format!("<{body}.{}@{domain}>", self.signature(&body))
    }

    /// The case number a Message-ID of ours names, if its signature holds. Accepts it with or
    /// without angle brackets.
    pub fn verify(&self, message_id: &str) -> Option<String> {
        self.verify_detail(message_id).map(|(case, _)| case)
    }

    /// The case number and the detail a Message-ID of ours was signed with (which mail it was).
    pub fn verify_detail(&self, message_id: &str) -> Option<(String, String)> {
        let id = message_id.trim().trim_start_matches('<').trim_end_matches('>');
        let (local, _domain) = id.rsplit_once('@')?;
        let (body, signature) = local.rsplit_once('.')?;
        if signature.len() != SIGNATURE_HEX
            || !constant_time_eq(signature.as_bytes(), self.signature(body).as_bytes())
        {
            return None;
        }
        let (case, detail) = body.split_once('.').unwrap_or((body, ""));
        Some((case.to_string(), detail.to_string()))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_id_verifies_and_names_its_case() {
        let ids = MessageIds::new(b"clave de prueba de la mesa".to_vec());
        let id = ids.sign("FE-2026-000123", "r45.0.acuse_recibo", "dian.gov.co");
        assert!(
            id.starts_with("<FE-2026-000123.r45.0.acuse_recibo.") && id.ends_with("@dian.gov.co>"),
            "{id}"
        );
        assert_eq!(ids.verify(&id).as_deref(), Some("FE-2026-000123"));
        assert_eq!(
            ids.verify(id.trim_matches(|c| c == '<' || c == '>')).as_deref(),
            Some("FE-2026-000123")
        );
    }

    #[test]
    fn forged_or_foreign_ids_do_not_verify() {
        let ids = MessageIds::new(b"clave de prueba de la mesa".to_vec());
        let id = ids.sign("FE-2026-000123", "r45.0.acuse_recibo", "dian.gov.co");
        let forged = id.replace("FE-2026-000123", "FE-2026-000124");
        assert_eq!(ids.verify(&forged), None);
        let other_key = MessageIds::new(b"otra clave, otra mesa".to_vec());
        assert_eq!(other_key.verify(&id), None);
        assert_eq!(ids.verify("<CAF3k9+pQe2026.rosa@correo.example>"), None);
        assert_eq!(ids.verify("sin-arroba"), None);
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("firma-mensajes.key");
        let first = MessageIds::from_file(&path).expect("create");
        let id = first.sign("FE-2026-000001", "x", "d.example");
        let second = MessageIds::from_file(&path).expect("reuse");
        assert_eq!(second.verify(&id).as_deref(), Some("FE-2026-000001"));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).expect("meta").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }
}
