//! E-mail as mesa-fe reads it: MIME → [`Inbound`].
//!
//! - [`parse`]: mail-parser over the raw bytes; headers, bodies (HTML reduced to text), nested
//!   forwards, attachments. Only bytes that are not an e-mail at all are refused
//!   ([`Unreadable`]); everything else becomes an [`Inbound`], damage recorded as
//!   [`AttachmentProblem`]s.
//! - [`prescan`]: one linear pass over the MIME structure that bounds its depth, parts, header
//!   fields and addresses before mail-parser builds a tree.
//! - [`quote`]: the requester's own words, without quoted history and signatures.
//! - [`attachments`]: ZIP files unpacked recursively under [`AttachmentLimits`].
//! - [`tnef`]: Outlook's `winmail.dat` (TNEF) read under the same limits.
//! - [`imap`]: sessions to a buzón (TLS, LOGIN/XOAUTH2, fetch, move, IDLE).
//! - [`oauth`]: OAuth2 client-credentials tokens for XOAUTH2, cached and refreshed.
//! - [`outgoing`]: answers rendered from templates into RFC 5322 messages with threading headers.
//! - [`smtp`]: submission of those messages through each buzón's SMTP server.
//! - [`thread`]: our signed Message-IDs, so replies are matched to their case beyond doubt.
//! - [`bounce`]: delivery reports, NDRs and "mailbox full" auto-replies about our mail.
//! - [`wire`]: the TCP-or-TLS stream both the IMAP and the SMTP client run on.

pub mod attachments;
pub mod bounce;
pub mod imap;
pub mod oauth;
pub mod outgoing;
pub mod parse;
pub mod prescan;
pub mod quote;
pub mod smtp;
pub mod thread;
pub mod tnef;
pub mod wire;

use serde::Serialize;

pub use attachments::AttachmentLimits;
pub use parse::{Unreadable, parse};
pub use quote::own_words;

/// Header facts that mark a message as written by a machine (RFC 3834 and friends).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AutoHeaders {
    /// `Auto-Submitted` value, lower-cased, if present.
    pub auto_submitted: Option<String>,
    /// `Precedence` value, lower-cased, if present.
    pub precedence: Option<String>,
    pub x_autoreply: bool,
    pub x_autorespond: bool,
    pub x_auto_response_suppress: bool,
    pub list_id: bool,
    /// `List-Unsubscribe`: newsletters and campaigns carry it even without `Precedence`.
    pub list_unsubscribe: bool,
    /// Top-level `multipart/report` (a DSN or MDN).
    pub multipart_report: bool,
    /// `Return-Path: <>`.
    pub null_return_path: bool,
}

impl AutoHeaders {
    /// Whether these headers alone mark the message as machine-written: `Auto-Submitted` other
    /// than `no`, a bulk/list/junk `Precedence`, the vendor auto-reply headers, list headers, a
    /// delivery or read report, or a null return path.
    pub fn mark_automatic(&self) -> bool {
        let auto_submitted = self.auto_submitted.as_deref().is_some_and(|v| !v.starts_with("no"));
        let bulk = self
            .precedence
            .as_deref()
            .is_some_and(|p| ["bulk", "list", "junk"].iter().any(|kind| p.starts_with(kind)));
        auto_submitted
            || bulk
            || self.x_autoreply
            || self.x_autorespond
            || self.x_auto_response_suppress
            || self.list_id
            || self.list_unsubscribe
            || self.multipart_report
            || self.null_return_path
    }
}

/// One file taken from the message: a MIME attachment, an inline part, or an entry of a ZIP.
#[derive(Debug, Clone)]
pub struct FileEntry {
    /// Path for people: `factura.zip/ad0800.xml`; a part without a name gets `parte-N`.
    pub source: String,
    /// Lower-cased MIME type as declared, or guessed from the name for ZIP entries.
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// Shown inside the message body (`Content-Disposition: inline` or referenced by
    /// Content-ID): signature logos live here, and so do screenshots pasted into Outlook.
    pub inline: bool,
}

/// An inline image smaller than this is taken for a logo, not for a screenshot.
pub const MIN_INLINE_EVIDENCE_BYTES: usize = 15 * 1024;

impl FileEntry {
    /// By name or declared type: `.xml`, `text/xml`, `application/xml`.
    pub fn is_xml(&self) -> bool {
        let name = self.source.to_ascii_lowercase();
        name.ends_with(".xml") || self.content_type.ends_with("/xml")
    }

    /// An image or a PDF: what the procedure calls "evidencia". A small inline image (a
    /// signature logo) is not.
    pub fn is_evidence(&self) -> bool {
        if self.inline && self.bytes.len() < MIN_INLINE_EVIDENCE_BYTES {
            return false;
        }
        let name = self.source.to_ascii_lowercase();
        self.content_type.starts_with("image/")
            || self.content_type == "application/pdf"
            || [".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".pdf"]
                .iter()
                .any(|ext| name.ends_with(ext))
    }
}

/// An attachment that could not be used, and why (Spanish, shown to the requester).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentProblem {
    pub source: String,
    pub problem: String,
}

/// A readable e-mail, everything mesa-fe needs from it, owned.
#[derive(Debug, Clone, Default)]
pub struct Inbound {
    /// Without angle brackets.
    pub message_id: Option<String>,
    /// Lower-cased address of `From` (falls back to `Sender`, then `Return-Path`).
    pub from: String,
    pub from_name: Option<String>,
    /// Lower-cased `Reply-To` address, when different from `from`.
    pub reply_to: Option<String>,
    /// Lower-cased addresses of `To` and `Cc`.
    pub recipients: Vec<String>,
    /// Decoded subject (RFC 2047), trimmed; empty when absent.
    pub subject: String,
    pub date: Option<chrono::DateTime<chrono::Utc>>,
    /// Message-IDs without angle brackets.
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// Outlook's `Thread-Index` (base64, whitespace removed), when sent: our answers extend it
    /// so Outlook shows them in the requester's own conversation.
    pub thread_index: Option<String>,
    pub auto: AutoHeaders,
    /// Raw `Authentication-Results` values (for the agent-command checks of a later issue).
    pub authentication_results: Vec<String>,
    /// The first header fields in order, (name, raw value): where the receiving MTAs wrote what
    /// they checked, above what the sender wrote.
    pub leading_headers: Vec<(String, String)>,
    /// The whole readable text: the first text body (or HTML reduced to text), plus the text of
    /// forwarded messages.
    pub body_text: String,
    /// The requester's own words: `body_text` without quoted history and signature.
    pub own_words: String,
    /// Every usable file: attachments, inline images, forwarded messages' attachments, ZIP entries
    /// (a ZIP itself is replaced by its entries).
    pub files: Vec<FileEntry>,
    pub problems: Vec<AttachmentProblem>,
    /// What the message says about a mail that was not delivered, when it is a bounce.
    pub bounce: Option<bounce::Bounce>,
}

impl Inbound {
    /// The same mail without U+0000 in any text: an encoded word or a body may carry one (`=00`,
    /// `%00` in an RFC 2231 name), it means nothing to a reader, and PostgreSQL refuses it in a
    /// TEXT column, which would quarantine the mail there and not on SQLite.
    pub fn without_nul(mut self) -> Inbound {
        let texts = [&mut self.from, &mut self.subject, &mut self.body_text, &mut self.own_words]
            .into_iter()
            .chain(self.message_id.as_mut())
            .chain(self.from_name.as_mut())
            .chain(self.reply_to.as_mut())
            .chain(self.thread_index.as_mut())
            .chain(self.recipients.iter_mut())
            .chain(self.in_reply_to.iter_mut())
            .chain(self.references.iter_mut())
            .chain(self.authentication_results.iter_mut())
            .chain(self.leading_headers.iter_mut().flat_map(|(name, value)| [name, value]))
            .chain(self.files.iter_mut().flat_map(|f| [&mut f.source, &mut f.content_type]))
            .chain(self.problems.iter_mut().flat_map(|p| [&mut p.source, &mut p.problem]));
        for text in texts {
            if text.contains('\0') {
                text.retain(|c| c != '\0');
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_text_of_a_parsed_mail_keeps_a_nul() {
        let inbound = Inbound {
            subject: "nulo\0aquí".into(),
            from_name: Some("\0Ana".into()),
            files: vec![FileEntry {
                source: "factura\0.xml".into(),
                content_type: "text/xml".into(),
                bytes: b"\0stays".to_vec(),
                inline: false,
            }],
            ..Inbound::default()
        }
        .without_nul();
        assert_eq!(inbound.subject, "nuloaquí");
        assert_eq!(inbound.from_name.as_deref(), Some("Ana"));
        assert_eq!(inbound.files[0].source, "factura.xml");
        assert_eq!(inbound.files[0].bytes, b"\0stays", "file bytes are data, kept as received");
    }

    #[test]
    fn auto_submitted_no_is_a_person() {
        let mut auto = AutoHeaders { auto_submitted: Some("no".into()), ..AutoHeaders::default() };
        assert!(!auto.mark_automatic());
        auto.auto_submitted = Some("auto-replied".into());
        assert!(auto.mark_automatic());
    }

    #[test]
    fn precedence_bulk_is_a_machine_and_no_headers_a_person() {
        let auto = AutoHeaders { precedence: Some("bulk".into()), ..AutoHeaders::default() };
        assert!(auto.mark_automatic());
        assert!(!AutoHeaders::default().mark_automatic());
    }

    #[test]
    fn list_unsubscribe_alone_is_bulk() {
        let auto = AutoHeaders { list_unsubscribe: true, ..AutoHeaders::default() };
        assert!(auto.mark_automatic());
    }

    fn png(inline: bool, size: usize) -> FileEntry {
        FileEntry {
            source: "image001.png".into(),
            content_type: "image/png".into(),
            bytes: vec![1; size],
            inline,
        }
    }

    #[test]
    fn evidence_is_an_attached_image_or_pdf() {
        assert!(png(false, 1).is_evidence());
        let pdf = FileEntry {
            source: "pantallazo.PDF".into(),
            content_type: "application/octet-stream".into(),
            bytes: vec![1; 10],
            inline: false,
        };
        assert!(pdf.is_evidence());
        let xml = FileEntry {
            source: "factura.xml".into(),
            content_type: "text/xml".into(),
            bytes: vec![1; 10],
            inline: false,
        };
        assert!(!xml.is_evidence());
    }

    #[test]
    fn a_signature_logo_is_no_evidence_but_a_pasted_screenshot_is() {
        assert!(!png(true, 4 * 1024).is_evidence());
        assert!(png(true, 120 * 1024).is_evidence());
    }
}
