//! Our Message-IDs, signed: `<FE-2026-000123.r45.0.acuse_recibo.para-1a2b….3f9a…@dominio>`,
//! where the last part of the local name is an HMAC of the rest under the desk's key and `para-…`
//! binds the mail to its recipient (a keyed hash of the address). A reply that quotes one
//! (In-Reply-To / References) belongs to that case beyond doubt, whatever its subject says; a
//! reply that quotes one sent to the replier, of a kind agents receive, may carry a command; an
//! inbound message whose own Message-ID verifies is our own mail coming back.

use std::path::Path;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Hex characters of the HMAC kept in the Message-ID (64 bits: guessing is hopeless).
const SIGNATURE_HEX: usize = 16;

/// Hex characters of the recipient binding (48 bits, under the signature anyway).
const RECIPIENT_HEX: usize = 12;

/// Marks the recipient binding in the local name; kinds never start with it.
const RECIPIENT_MARK: &str = "para-";

/// Bytes of a generated key.
const KEY_BYTES: usize = 32;

/// The key file of keys drawn from the OS's cryptographic generator.
pub const KEY_FILE: &str = "firma-mensajes-v2.key";

/// The key file of earlier versions, drawn from a non-cryptographic generator: kept only to
/// recognise replies to the mail it signed, during the control window after its replacement.
pub const LEGACY_KEY_FILE: &str = "firma-mensajes.key";

/// Signs and verifies Message-IDs.
#[derive(Clone)]
pub struct MessageIds {
    key: Vec<u8>,
    /// Earlier keys: they still verify, they never sign.
    retired: Vec<Vec<u8>>,
}

/// What one of our Message-IDs says, once its signature holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub case: String,
    /// Which mail it was (`r45.0.notificacion_agente`), without the recipient binding.
    pub detail: String,
    /// The mail's kind: the last part of the detail.
    pub kind: String,
    /// The recipient binding, absent on IDs of the earlier format.
    recipient: Option<String>,
    /// Which key verified it (0 = the current one).
    key: usize,
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
        MessageIds { key: key.into(), retired: Vec::new() }
    }

    /// A throw-away key: for `inspect` and tests, where nothing is sent.
    pub fn ephemeral() -> MessageIds {
        let mut key = vec![0u8; KEY_BYTES];
        // A guessable key would let anyone forge our IDs; Linux's getrandom does not fail.
        os_random(&mut key).expect("the OS random generator");
        MessageIds::new(key)
    }

    /// The key of `dir` ([`KEY_FILE`]), created from the OS's generator (mode 0600) on first use.
    /// A key of the earlier generator ([`LEGACY_KEY_FILE`]) is replaced by it and only verifies,
    /// for `legacy_window` after the replacement (the new file's age), then not at all.
    pub fn from_state_dir(dir: &Path, legacy_window: Duration) -> Result<MessageIds, KeyError> {
        let path = dir.join(KEY_FILE);
        let mut ids = MessageIds::new(read_or_create(&path)?);
        let replaced_at = std::fs::metadata(&path).and_then(|m| m.modified());
        let within_window = replaced_at
            .ok()
            .and_then(|at| SystemTime::now().duration_since(at).ok())
            .is_some_and(|age| age < legacy_window);
        if within_window && let Some(old) = read_key(&dir.join(LEGACY_KEY_FILE))? {
            ids.retired.push(old);
        }
        Ok(ids)
    }

    fn mac(key: &[u8], body: &str, hex: usize) -> String {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { return String::new() };
        mac.update(body.as_bytes());
        mac.finalize().into_bytes().iter().take(hex / 2).map(|b| format!("{b:02x}")).collect()
    }

    fn recipient_tag(key: &[u8], address: &str) -> String {
        let address = address.trim().to_lowercase();
        format!("{RECIPIENT_MARK}{}", Self::mac(key, &format!("para:{address}"), RECIPIENT_HEX))
    }

    /// `<{case}.{detail}.para-{recipient}.{signature}@{domain}>`; `detail` must not contain `@`
    /// or `>`, and its last part is the mail's kind.
    pub fn sign(&self, case: &str, detail: &str, recipient: &str, domain: &str) -> String {
        let body = format!("{case}.{detail}.{}", Self::recipient_tag(&self.key, recipient));
        format!("<{body}.{}@{domain}>", Self::mac(&self.key, &body, SIGNATURE_HEX))
    }

    /// The case number a Message-ID of ours names, if its signature holds. Accepts it with or
    /// without angle brackets.
    pub fn verify(&self, message_id: &str) -> Option<String> {
        self.verify_signed(message_id).map(|signed| signed.case)
    }

    /// The case number and the detail a Message-ID of ours was signed with (which mail it was).
    pub fn verify_detail(&self, message_id: &str) -> Option<(String, String)> {
        self.verify_signed(message_id).map(|signed| (signed.case, signed.detail))
    }

    /// What a Message-ID of ours says, if its signature holds under the current key or a
    /// retired one.
    pub fn verify_signed(&self, message_id: &str) -> Option<Signed> {
        let id = message_id.trim().trim_start_matches('<').trim_end_matches('>');
        let (local, _domain) = id.rsplit_once('@')?;
        let (body, signature) = local.rsplit_once('.')?;
        if signature.len() != SIGNATURE_HEX {
            return None;
        }
        let key = std::iter::once(&self.key).chain(&self.retired).position(|key| {
            constant_time_eq(signature.as_bytes(), Self::mac(key, body, SIGNATURE_HEX).as_bytes())
        })?;
        let (case, detail) = body.split_once('.').unwrap_or((body, ""));
        let (detail, recipient) = match detail.rsplit_once('.') {
            Some((rest, tag)) if tag.starts_with(RECIPIENT_MARK) => (rest, Some(tag.to_string())),
            _ => (detail, None),
        };
        let kind = detail.rsplit('.').next().unwrap_or_default().to_string();
        Some(Signed { case: case.to_string(), detail: detail.to_string(), kind, recipient, key })
    }

    /// Whether `signed` was sent to `address`: never for an ID without a recipient binding.
    pub fn was_sent_to(&self, signed: &Signed, address: &str) -> bool {
        let key = if signed.key == 0 { Some(&self.key) } else { self.retired.get(signed.key - 1) };
        match (key, &signed.recipient) {
            (Some(key), Some(tag)) => {
                constant_time_eq(tag.as_bytes(), Self::recipient_tag(key, address).as_bytes())
            }
            _ => false,
        }
    }
}

/// The key in `path`, if there is one (at least 16 bytes).
fn read_key(path: &Path) -> Result<Option<Vec<u8>>, KeyError> {
    let error = |detail: String| KeyError { path: path.display().to_string(), detail };
    match std::fs::read(path) {
        Ok(key) if key.len() >= 16 => Ok(Some(key)),
        Ok(_) => Err(error("la clave es demasiado corta (menos de 16 bytes)".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(error(e.to_string())),
    }
}

/// The key in `path`, or a new one from the OS's generator written there (mode 0600).
fn read_or_create(path: &Path) -> Result<Vec<u8>, KeyError> {
    if let Some(key) = read_key(path)? {
        return Ok(key);
    }
    let error = |detail: String| KeyError { path: path.display().to_string(), detail };
    let mut key = vec![0u8; KEY_BYTES];
    os_random(&mut key).map_err(|_| {
        error("el generador aleatorio del sistema operativo no respondió".to_string())
    })?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| error(e.to_string()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| error(e.to_string()))?;
    std::io::Write::write_all(&mut file, &key).map_err(|e| error(e.to_string()))?;
    file.sync_all().map_err(|e| error(e.to_string()))?;
    Ok(key)
}

/// Fills `buffer` from the OS's cryptographic generator (`getrandom`, through ring: the same
/// source rustls draws TLS secrets from).
fn os_random(buffer: &mut [u8]) -> Result<(), rustls::crypto::GetRandomFailed> {
    rustls::crypto::ring::default_provider().secure_random.fill(buffer)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> MessageIds {
        MessageIds::new(b"clave de prueba de la mesa".to_vec())
    }

    #[test]
    fn a_signed_id_verifies_and_names_its_case_kind_and_recipient() {
        let ids = ids();
        let id =
            ids.sign("FE-2026-000123", "r45.0.acuse_recibo", "Rosa@Correo.example", "dian.gov.co");
        assert!(
            id.starts_with("<FE-2026-000123.r45.0.acuse_recibo.para-")
                && id.ends_with("@dian.gov.co>"),
            "{id}"
        );
        assert_eq!(ids.verify(&id).as_deref(), Some("FE-2026-000123"));
        assert_eq!(
            ids.verify(id.trim_matches(|c| c == '<' || c == '>')).as_deref(),
            Some("FE-2026-000123")
        );
        let signed = ids.verify_signed(&id).expect("verifies");
        assert_eq!(
            (signed.detail.as_str(), signed.kind.as_str()),
            ("r45.0.acuse_recibo", "acuse_recibo")
        );
        assert!(ids.was_sent_to(&signed, "rosa@correo.example"));
        assert!(!ids.was_sent_to(&signed, "ana.rojas@dian.gov.co"));
    }

    #[test]
    fn forged_or_foreign_ids_do_not_verify() {
        let ids = ids();
        let id =
            ids.sign("FE-2026-000123", "r45.0.acuse_recibo", "rosa@correo.example", "dian.gov.co");
        let forged = id.replace("FE-2026-000123", "FE-2026-000124");
        assert_eq!(ids.verify(&forged), None);
        let rebound = id.replace("acuse_recibo", "notificacion_agente");
        assert_eq!(ids.verify(&rebound), None, "the kind is under the signature");
        let other_key = MessageIds::new(b"otra clave, otra mesa".to_vec());
        assert_eq!(other_key.verify(&id), None);
        assert_eq!(ids.verify("<CAF3k9+pQe2026.rosa@correo.example>"), None);
        assert_eq!(ids.verify("sin-arroba"), None);
    }

    #[test]
    fn an_id_of_the_earlier_format_threads_but_is_bound_to_nobody() {
        let ids = ids();
        // `<{case}.{detail}.{signature}@…>`, as signed before the recipient binding.
        let body = "FE-2026-000123.r45.0.notificacion_agente";
        let legacy =
            format!("<{body}.{}@dian.gov.co>", MessageIds::mac(&ids.key, body, SIGNATURE_HEX));
        let signed = ids.verify_signed(&legacy).expect("still verifies");
        assert_eq!(
            (signed.case.as_str(), signed.kind.as_str()),
            ("FE-2026-000123", "notificacion_agente")
        );
        assert!(!ids.was_sent_to(&signed, "ana.rojas@dian.gov.co"));
    }

    #[test]
    fn a_new_key_replaces_the_legacy_one_which_only_verifies_within_the_window() {
        let dir = tempfile::tempdir().expect("temp dir");
        let legacy_key = b"clave generada con fastrand, 32 bytes".to_vec();
        std::fs::write(dir.path().join(LEGACY_KEY_FILE), &legacy_key).expect("legacy key");
        let legacy = MessageIds::new(legacy_key);
        let old_ack =
            legacy.sign("FE-2026-000001", "r1.0.notificacion_agente", "ana@d.example", "d.example");

        let ids =
            MessageIds::from_state_dir(dir.path(), Duration::from_secs(3600)).expect("create");
        let new = ids.sign("FE-2026-000002", "r2.0.acuse_recibo", "rosa@d.example", "d.example");
        assert_eq!(legacy.verify(&new), None, "the new key is not the legacy one");
        let old = ids.verify_signed(&old_ack).expect("an old ID verifies within the window");
        assert!(ids.was_sent_to(&old, "ana@d.example"));

        let again =
            MessageIds::from_state_dir(dir.path(), Duration::from_secs(3600)).expect("reuse");
        assert_eq!(again.verify(&new).as_deref(), Some("FE-2026-000002"), "the new key is kept");
        let expired = MessageIds::from_state_dir(dir.path(), Duration::ZERO).expect("reuse");
        assert_eq!(expired.verify(&old_ack), None, "after the window the legacy key is gone");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join(KEY_FILE)).expect("meta").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn generated_keys_differ() {
        let a = tempfile::tempdir().expect("temp dir");
        let b = tempfile::tempdir().expect("temp dir");
        MessageIds::from_state_dir(a.path(), Duration::ZERO).expect("a");
        MessageIds::from_state_dir(b.path(), Duration::ZERO).expect("b");
        let (ka, kb) = (
            std::fs::read(a.path().join(KEY_FILE)).expect("a"),
            std::fs::read(b.path().join(KEY_FILE)).expect("b"),
        );
        assert_eq!(ka.len(), KEY_BYTES);
        assert_ne!(ka, kb);
    }
}
