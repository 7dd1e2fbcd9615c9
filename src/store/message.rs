//! A received message as the store records it. Whoever reads the mail fills it in, so the store
//! depends on no reader's types (the pipeline's analysis, the MIME parser's).

use serde::Serialize;

use crate::dian::{Document, Rejection};

/// What the store keeps of one received message, and what ties it to a case.
#[derive(Debug, Clone)]
pub struct MessageRecord<'a> {
    /// Without angle brackets, as parsed.
    pub message_id: Option<&'a str>,
    /// The Message-IDs it answers (the first is kept as its In-Reply-To), without brackets.
    pub in_reply_to: &'a [String],
    pub references: &'a [String],
    /// Outlook's `Thread-Index` as sent (base64), for answers that extend it.
    pub thread_index: Option<&'a str>,
    pub from: &'a str,
    pub from_name: Option<&'a str>,
    pub reply_to: Option<&'a str>,
    pub subject: &'a str,
    /// The sender's own words, without quoted history.
    pub own_words: &'a str,
    pub auto_generated: bool,
    /// The `[FE-…]` tag of its subject, if any.
    pub case_ref: Option<&'a str>,
    pub files: Vec<FileRecord<'a>>,
    /// Attachments that could not be used, shown to agents as stored.
    pub problems: Vec<ProblemRecord<'a>>,
    pub documents: &'a [Document],
    /// Every rule reported, in the documents or in the text.
    pub rejections: &'a [Rejection],
}

impl MessageRecord<'_> {
    /// Where answers go: Reply-To when given, else From.
    pub fn requester(&self) -> &str {
        self.reply_to.unwrap_or(self.from)
    }

    /// Every Message-ID it refers to, In-Reply-To first.
    pub(super) fn thread(&self) -> impl Iterator<Item = &str> {
        self.in_reply_to.iter().chain(self.references).map(String::as_str)
    }
}

/// One attached file: only its name, type, size and hash are kept (the bytes stay in the raw
/// message).
#[derive(Debug, Clone, Copy)]
pub struct FileRecord<'a> {
    pub source: &'a str,
    pub content_type: &'a str,
    pub bytes: &'a [u8],
}

/// An attachment that could not be used, and why. Serialized as the stored JSON list.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProblemRecord<'a> {
    pub source: &'a str,
    pub problem: &'a str,
}
