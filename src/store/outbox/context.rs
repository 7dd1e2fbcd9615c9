//! What an outbox row is rendered with, kept as JSON in `outbox.context`. The fields the sender
//! itself acts on are typed, so a misspelt key does not compile; the rest are for the templates
//! alone and kept as written. The key names are those stored since the first version: rows
//! already queued read without a migration.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The context of one outbox row. Every field has a default: rows written before a field
/// existed, and the `{}` a purge leaves, still read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DraftContext {
    /// The case number (filled in at send time when missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    /// Mail about a security case to someone outside the security group: it says no more than
    /// the case's number and state, and carries none of the requester's files.
    #[serde(skip_serializing_if = "is_false")]
    pub redacted: bool,
    /// The stored message that caused this mail: its XML and evidence are forwarded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_message_id: Option<i64>,
    /// The requester's stored messages, for mail an agent's action caused; when present it is
    /// what is forwarded, not [`DraftContext::raw_message_id`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_message_ids: Option<Vec<i64>>,
    /// Codes of the known errors this mail answers; their answers are read from the known-error
    /// base when it is sent, so a corrected answer reaches mail still waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_errors: Option<Vec<String>>,
    /// Answers learned from solved problemas (not in the known-error file, so they travel here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learned_answers: Option<Vec<LearnedAnswer>>,
    /// The requester's Outlook `Thread-Index` (base64) this mail extends; none for mail outside
    /// their conversation or when they sent none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_index: Option<String>,
    /// The case's state as the mail saw it, which a digest lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tema_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Outlook's Thread-Index of a mail in the agents' conversation of the case, fixed when it
    /// was queued (it extends the previous one, so the next mail can extend it in turn).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_thread_index: Option<String>,
    /// Keys only the templates read (see config/templates/LEEME.md). Must not repeat the names
    /// of the fields above.
    #[serde(flatten)]
    pub for_templates: Map<String, Value>,
}

/// A known error's answer learned from a solved problema, as the templates show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearnedAnswer {
    pub code: String,
    /// The DIAN's message for the rule, when the requester's mail quoted it.
    pub official_message: Option<String>,
    pub answer: String,
}

/// A stored context that does not read as a [`DraftContext`]: that row cannot be sent.
#[derive(Debug, thiserror::Error)]
#[error("el contexto guardado del correo {id} de la cola no se puede leer ({source})")]
pub struct UnreadableContext {
    pub id: i64,
    pub source: serde_json::Error,
}

fn is_false(value: &bool) -> bool {
    !value
}

impl DraftContext {
    /// A context with only template keys: `value` must be a JSON object (anything else gives
    /// none).
    pub fn for_templates(value: Value) -> DraftContext {
        DraftContext { for_templates: into_map(value), ..DraftContext::default() }
    }

    /// The JSON object the templates are rendered with.
    pub fn to_value(&self) -> Value {
        // A struct of strings, numbers and maps with string keys always serializes.
        serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Map::new()))
    }
}

/// The entries of a JSON object; a non-object has none.
pub fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// As `compose` wrote it before the struct existed, with a learned answer.
    const OLD_MESSAGE_CONTEXT: &str = r#"{"case":"FE-2026-000007","raw_message_id":12,
        "tema":"rechazo_validacion","tema_label":"Rechazo","status":"en_atencion","level":"n2",
        "known_errors":["FAD06"],"learned_answers":[{"code":"FAK24","official_message":null,
        "answer":"Use el anexo 1.9"}],"missing":[],"group":"n2-validacion","agent":null}"#;

    #[test]
    fn a_context_stored_before_the_struct_reads_with_its_typed_and_template_keys() {
        let context: DraftContext = serde_json::from_str(OLD_MESSAGE_CONTEXT).expect("reads");
        assert_eq!(context.case.as_deref(), Some("FE-2026-000007"));
        assert_eq!(context.raw_message_id, Some(12));
        assert_eq!(context.raw_message_ids, None);
        assert!(!context.redacted);
        assert_eq!(context.known_errors, Some(vec!["FAD06".to_string()]));
        let learned = context.learned_answers.as_deref().expect("learned");
        assert_eq!(
            (learned[0].code.as_str(), learned[0].answer.as_str()),
            ("FAK24", "Use el anexo 1.9")
        );
        assert_eq!(context.for_templates["group"], "n2-validacion");
        assert_eq!(context.for_templates["agent"], Value::Null);
        assert!(!context.for_templates.contains_key("case"), "typed keys are not repeated");
    }

    #[test]
    fn it_writes_back_the_same_json_it_read() {
        let stored: Value = serde_json::from_str(OLD_MESSAGE_CONTEXT).expect("json");
        let context: DraftContext = serde_json::from_value(stored.clone()).expect("reads");
        assert_eq!(context.to_value(), stored);
    }

    #[test]
    fn a_purged_context_and_a_redacted_one_read() {
        let purged: DraftContext = serde_json::from_str("{}").expect("purged");
        assert_eq!(purged, DraftContext::default());
        let redacted: DraftContext = serde_json::from_value(json!({
            "case": "FE-2026-000009", "status": "escalado", "level": "n3",
            "security_category": "h", "redacted": true,
        }))
        .expect("redacted");
        assert!(redacted.redacted);
        assert_eq!(redacted.to_value()["redacted"], true);
        assert_eq!(DraftContext::default().to_value(), json!({}), "no redacted: false written");
    }

    #[test]
    fn a_key_of_the_wrong_type_is_an_error_not_an_empty_context() {
        let error = serde_json::from_str::<DraftContext>(r#"{"raw_message_ids": "12"}"#)
            .expect_err("a string is no list of ids");
        assert!(error.to_string().contains("invalid type"), "{error}");
        assert!(serde_json::from_str::<DraftContext>("{\"case\": ").is_err(), "cut short");
    }
}
