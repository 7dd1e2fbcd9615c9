//! Minimum requirements per tema (activity 2): what a message brings, and what is still missing.
//!
//! A case accumulates [`Evidence`] over its messages, so a follow-up that supplies the missing
//! items completes the case.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::desk::Requirement;
use crate::dian::{Document, DocumentKind};
use crate::mail::FileEntry;
use crate::text::{contains_phrase, fold};

/// Fewest characters of the requester's own words that count as a description.
pub const MIN_DESCRIPTION_CHARS: usize = 20;

/// What the messages of a case have supplied so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub supplied: BTreeSet<Requirement>,
    /// The requester reported a DIAN rejection or validation error: the XML becomes required.
    pub reports_rejection: bool,
}

impl Evidence {
    /// What one message brings. `own_words` and `subject` are as written (not folded).
    pub fn of_message(
        subject: &str,
        own_words: &str,
        documents: &[Document],
        files: &[FileEntry],
    ) -> Evidence {
        let folded = fold(&format!("{subject}\n{own_words}"));
        let mut supplied = BTreeSet::new();
        if own_words.trim().chars().count() >= MIN_DESCRIPTION_CHARS {
            supplied.insert(Requirement::Descripcion);
        }
        if documents.iter().any(|d| d.supplier_nit.is_some() || d.customer_nit.is_some())
            || mentions_nit(&folded)
        {
            supplied.insert(Requirement::Nit);
        }
        let readable: Vec<&Document> = documents.iter().filter(|d| is_dian_document(d)).collect();
        if readable.iter().any(|d| d.uuid.is_some() || d.number.is_some())
            || mentions_document(subject, own_words)
        {
            supplied.insert(Requirement::Documento);
        }
        if !readable.is_empty() {
            supplied.insert(Requirement::Xml);
        }
        if files.iter().any(FileEntry::is_evidence) {
            supplied.insert(Requirement::Evidencia);
        }
        Evidence { supplied, reports_rejection: reports_rejection(&folded) }
    }

    /// Adds what a later message of the same case brought.
    pub fn merge(&mut self, other: &Evidence) {
        self.supplied.extend(other.supplied.iter().copied());
        self.reports_rejection |= other.reports_rejection;
    }

    /// The required items still missing, sorted by name. `xml` is missing only when a rejection
    /// was reported and no readable DIAN XML came.
    pub fn missing(&self, required: &[Requirement]) -> Vec<Requirement> {
        let mut missing: Vec<Requirement> = required
            .iter()
            .copied()
            .filter(|r| match r {
                Requirement::Xml => self.reports_rejection && !self.supplied.contains(r),
                other => !self.supplied.contains(other),
            })
            .collect();
        missing.sort_by_key(|r| r.as_str());
        missing.dedup();
        missing
    }
}

/// A document DIAN defines, or a DIAN reply that carries rules: what "the XML" means to an agent.
fn is_dian_document(document: &Document) -> bool {
    document.kind != DocumentKind::UnknownXml || !document.rejections.is_empty()
}

const REJECTION_PHRASES: &[&str] = &[
    "rechaz",
    "error de validacion",
    "errores de validacion",
    "no pasa la validacion",
    "no supera la validacion",
    "fallo la validacion",
    "no fue validad",
    "regla:",
];

/// "sale rechazada", "error de validación"… in [`fold`]ed text.
pub fn reports_rejection(folded: &str) -> bool {
    REJECTION_PHRASES.iter().any(|p| contains_phrase(folded, p))
}

/// "NIT 900.123.456-7", "nit: 900123456", "Nit No. 900123456": the word NIT, a few separator
/// characters, then at least six digits (dots allowed). `folded` is lower-case.
pub fn mentions_nit(folded: &str) -> bool {
    folded.match_indices("nit").any(|(at, _)| {
        let starts_word = folded[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        let rest = &folded[at + 3..];
        let ends_word = rest.chars().next().is_none_or(|c| !c.is_alphanumeric());
        starts_word && ends_word && digits_after_separators(rest) >= 6
    })
}

/// Counts the digits of the number that follows a label such as "NIT" or "No.".
fn digits_after_separators(text: &str) -> usize {
    let text = text.trim_start_matches(|c: char| c.is_whitespace() || ":.#°º".contains(c));
    let text = text
        .strip_prefix("no")
        .map_or(text, |t| t.trim_start_matches(|c: char| c.is_whitespace() || ".:#".contains(c)));
    text.chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .filter(char::is_ascii_digit)
        .count()
}

/// A CUFE/CUDE/CUDS/CUNE (96 hex characters) or a document number ("LCE4821", "NC2291",
/// "SETT990004517", "factura 12345") in the requester's text.
pub fn mentions_document(subject: &str, own_words: &str) -> bool {
    let text = format!("{subject}\n{own_words}");
    let tokens: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|t| !t.is_empty())
        .collect();
    tokens.iter().enumerate().any(|(i, token)| {
        is_document_key(token)
            || is_prefixed_number(token)
            || (is_document_word(token)
                && tokens[i + 1..].iter().take(3).any(|next| {
                    count_digits(next) >= 3 && next.chars().all(|c| c.is_ascii_digit())
                }))
    })
}

fn is_document_key(token: &str) -> bool {
    token.len() == 96 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Upper-case prefix (1–6 letters), optional dash, then at least three digits: "FER10233",
/// "DSAM-1207". DIAN rule codes ("FAD06", "NIE024") and case numbers are not documents.
fn is_prefixed_number(token: &str) -> bool {
    let letters = token.chars().take_while(char::is_ascii_uppercase).count();
    let rest = token[letters..].strip_prefix('-').unwrap_or(&token[letters..]);
    (1..=6).contains(&letters)
        && rest.len() >= 3
        && rest.bytes().all(|b| b.is_ascii_digit())
        && !token.starts_with("NIE")
        && !token.starts_with("NIAE")
}

fn is_document_word(token: &str) -> bool {
    let folded = fold(token);
    ["factura", "documento", "nota", "consecutivo", "numero"].iter().any(|w| folded.starts_with(w))
}

fn count_digits(token: &str) -> usize {
    token.chars().filter(char::is_ascii_digit).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Requirement::*;

    const ALL_FE: [Requirement; 4] = [Descripcion, Nit, Documento, Xml];

    #[test]
    fn nit_forms_in_text() {
        assert!(mentions_nit(&fold("Somos NIT 900.123.456-7")));
        assert!(mentions_nit(&fold("nit: 900123456")));
        assert!(mentions_nit(&fold("(NIT No. 901583226-7)")));
        assert!(!mentions_nit(&fold("unit 900123456")));
        assert!(!mentions_nit(&fold("el NIT de la empresa")));
        assert!(!mentions_nit(&fold("NIT 123")));
    }

    #[test]
    fn document_references_in_text() {
        assert!(mentions_document("Consulta nota credito NC2291", ""));
        assert!(mentions_document("", "la factura SETT990004517 fue rechazada"));
        assert!(mentions_document("", "la factura número 990004517"));
        assert!(mentions_document("", &"ab12".repeat(24)));
        assert!(!mentions_document("Ayuda con factura rechazada", "sale la regla FAD06 y NIE024"));
        assert!(!mentions_document("[FE-2026-000042] Re:", "el 25 de noviembre"));
    }

    #[test]
    fn rejection_without_xml_requires_xml() {
        let evidence = Evidence::of_message(
            "Ayuda con factura rechazada",
            "Mi factura sale rechazada y no sé qué hacer hoy",
            &[],
            &[],
        );
        assert_eq!(evidence.missing(&ALL_FE), vec![Documento, Nit, Xml]);
    }

    #[test]
    fn no_rejection_means_xml_not_required() {
        let evidence = Evidence::of_message(
            "Consulta nota credito NC2291",
            "¿La nota crédito debe llevar referencia? NIT 901.118.342-0",
            &[],
            &[],
        );
        assert!(evidence.missing(&ALL_FE).is_empty());
    }

    #[test]
    fn short_text_is_no_description() {
        let evidence = Evidence::of_message("Hola", "ayuda urgente", &[], &[]);
        assert!(evidence.missing(&[Descripcion]).contains(&Descripcion));
    }

    #[test]
    fn a_follow_up_supplies_what_was_missing() {
        let mut case = Evidence::of_message(
            "Factura rechazada",
            "Mi factura sale rechazada, ¿qué hago con ella?",
            &[],
            &[],
        );
        assert_eq!(case.missing(&ALL_FE), vec![Documento, Nit, Xml]);
        let mut invoice = Document::new(DocumentKind::Invoice, "f.xml");
        invoice.number = Some("LCE4821".into());
        invoice.supplier_nit = Some("900481236".into());
        case.merge(&Evidence::of_message("RE: [FE-2026-000001]", "Adjunto", &[invoice], &[]));
        assert!(case.missing(&ALL_FE).is_empty());
    }

    #[test]
    fn evidence_is_an_image_or_pdf() {
        let png = FileEntry {
            source: "pantallazo.png".into(),
            content_type: "image/png".into(),
            bytes: vec![1],
        };
        let evidence = Evidence::of_message("", "", &[], &[png]);
        assert!(evidence.supplied.contains(&Evidencia));
    }

    #[test]
    fn unknown_xml_is_not_the_xml() {
        let other = Document::new(DocumentKind::UnknownXml, "otro.xml");
        let evidence = Evidence::of_message("", "rechazada", &[other], &[]);
        assert!(evidence.missing(&[Xml]).contains(&Xml));
    }
}
