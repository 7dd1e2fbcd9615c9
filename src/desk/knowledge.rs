//! The known-error base (CT-CAC-0127, "solución en primer contacto"): DIAN rejection rules with
//! what they mean and the answer a requester gets at once.

/// The base shipped with mesa-fe, used when the configuration names no file.
pub const BUILTIN_TOML: &str = include_str!("../../config/errores_conocidos.toml");

/// One known error.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct KnownError {
    /// DIAN rule code, e.g. `FAD06`.
    #[serde(rename = "codigo")]
    pub code: String,
    /// Parallel codes of the same check in other documents (CAD06, DAD06…).
    #[serde(rename = "equivalentes", default)]
    pub equivalents: Vec<String>,
    /// DIAN's own message.
    #[serde(rename = "mensaje_oficial")]
    pub official_message: String,
    /// What it means, for an agent.
    #[serde(rename = "significado")]
    pub meaning: String,
    /// The first-contact answer sent to the requester; absent when the error needs an agent.
    #[serde(rename = "respuesta_primer_contacto", default)]
    pub first_contact_answer: Option<String>,
}

/// The loaded base, looked up by code (case-insensitive, equivalents included).
#[derive(Debug, Clone, Default)]
pub struct KnowledgeBase {
    entries: Vec<KnownError>,
}

impl KnowledgeBase {
    pub fn entries(&self) -> &[KnownError] {
        &self.entries
    }

    /// Stub: the knowledge-base helper fills this in.
    pub fn get(&self, _code: &str) -> Option<&KnownError> {
        None
    }
}
