//! Minimum requirements per tema (activity 2): what a message brings, and what is still missing.
//!
//! A case accumulates [`Evidence`] over its messages, so a follow-up that supplies the missing
//! items completes the case.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::desk::Requirement;
use crate::dian::{Document, DocumentKind};
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

/// The texts of one message, as the requirement checks read them.
#[derive(Debug, Clone, Copy)]
pub struct MessageText<'a> {
    pub subject: &'a str,
    /// The requester's own words (no quoted history, no signature): the description.
    pub own_words: &'a str,
    /// The whole readable text: a NIT or a document number in a signature or in the
    /// requester's own quoted earlier message still counts.
    pub body: &'a str,
}

impl Evidence {
    /// What one message brings.
    pub fn of_message(
        text: &MessageText<'_>,
        documents: &[Document],
        // Whether an attachment is an image or a PDF (see `mail::FileEntry::is_evidence`): a
        // flag, so the desk does not read mail's types.
        evidence_file: bool,
    ) -> Evidence {
        let everything = format!("{}\n{}", text.subject, text.body);
        let mut supplied = BTreeSet::new();
        if text.own_words.trim().chars().count() >= MIN_DESCRIPTION_CHARS {
            supplied.insert(Requirement::Descripcion);
        }
        let has_nit =
            documents.iter().any(|d| d.supplier_nit.is_some() || d.customer_nit.is_some());
        if has_nit || mentions_nit(&fold(&everything)) {
            supplied.insert(Requirement::Nit);
        }
        let readable: Vec<&Document> = documents.iter().filter(|d| is_dian_document(d)).collect();
        if readable.iter().any(|d| d.uuid.is_some() || d.number.is_some())
            || mentions_document(&everything)
        {
            supplied.insert(Requirement::Documento);
        }
        if !readable.is_empty() {
            supplied.insert(Requirement::Xml);
        }
        if evidence_file {
            supplied.insert(Requirement::Evidencia);
        }
        let own = fold(&format!("{}\n{}", text.subject, text.own_words));
        Evidence { supplied, reports_rejection: reports_rejection(&own) }
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
    "no validad",
    "no la valida",
    "no lo valida",
];

/// "sale rechazada", "error de validación"… in [`fold`]ed text.
pub fn reports_rejection(folded: &str) -> bool {
    REJECTION_PHRASES.iter().any(|p| contains_phrase(folded, p))
}

/// A NIT written by a person: "NIT 900.123.456-7", "nit: 900123456", "Mi NIT es 900 123 456-7",
/// "N.I.T. No. 900123456", "NIT900123456": the word NIT, up to four short words, then a number
/// of at least six digits (dots, commas or spaces between groups). `folded` is [`fold`]ed text.
pub fn mentions_nit(folded: &str) -> bool {
    let text = folded.replace("n.i.t", "nit");
    text.match_indices("nit").any(|(at, _)| {
        let starts_word = text[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        let rest = &text[at + 3..];
        let glued_digits = rest.starts_with(|c: char| c.is_ascii_digit());
        let ends_word = rest.chars().next().is_none_or(|c| !c.is_alphanumeric());
        starts_word && (ends_word || glued_digits) && number_follows(rest)
    })
}

/// After a label: skip separators and at most four short words ("es", "No.", "de la empresa"),
/// then count the digits of the number, allowing dots, commas and single spaces between groups.
fn number_follows(text: &str) -> bool {
    let mut rest = text;
    for _ in 0..5 {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || ":.#°º-".contains(c));
        if rest.starts_with(|c: char| c.is_ascii_digit()) {
            return leading_number_digits(rest) >= 6;
        }
        let word_len = rest.find(|c: char| !c.is_alphabetic()).unwrap_or(rest.len());
        if word_len == 0 || word_len > 8 {
            return false;
        }
        rest = &rest[word_len..];
    }
    false
}

fn leading_number_digits(text: &str) -> usize {
    let mut digits = 0;
    let mut previous_was_separator = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits += 1;
            previous_was_separator = false;
        } else if ".,' ".contains(c) && !previous_was_separator && digits > 0 {
            previous_was_separator = true;
        } else {
            break;
        }
    }
    digits
}

/// A CUFE/CUDE/CUDS/CUNE (96 hex characters) or a document number ("LCE4821", "NC2291",
/// "SETT990004517", "factura No. 12345") in the requester's text.
pub fn mentions_document(text: &str) -> bool {
    let tokens: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|t| !t.is_empty())
        .collect();
    tokens.iter().enumerate().any(|(i, token)| {
        is_document_key(token)
            || is_prefixed_number(token)
            || (is_document_word(token) && numbered(&tokens[i + 1..]))
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

/// The whole word naming a document, as a person writes it.
fn is_document_word(token: &str) -> bool {
    ["factura", "facturas", "documento", "nota", "consecutivo"].contains(&fold(token).as_str())
}

/// Words that may sit between "factura" and its number.
const NUMBER_FILLERS: &[&str] = &[
    "no",
    "nro",
    "n",
    "numero",
    "num",
    "electronica",
    "de",
    "venta",
    "credito",
    "debito",
    "soporte",
    "ajuste",
];

/// The next tokens are fillers, then a number of three or more digits that is not a year.
fn numbered(next: &[&str]) -> bool {
    for token in next.iter().take(4) {
        if token.chars().all(|c| c.is_ascii_digit()) {
            let is_year = token.len() == 4 && (token.starts_with("19") || token.starts_with("20"));
            return token.len() >= 3 && !is_year;
        }
        if !NUMBER_FILLERS.contains(&fold(token).as_str()) {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use Requirement::*;

    const ALL_FE: [Requirement; 4] = [Descripcion, Nit, Documento, Xml];

    fn of(subject: &str, words: &str, documents: &[Document]) -> Evidence {
        Evidence::of_message(
            &MessageText { subject, own_words: words, body: words },
            documents,
            false,
        )
    }

    #[test]
    fn a_nit_in_the_signature_counts() {
        let text = MessageText {
            subject: "Factura FE1234 no llega al cliente",
            own_words: "La factura FE1234 no le llega al cliente, ¿qué revisamos?",
            body: "La factura FE1234 no le llega al cliente, ¿qué revisamos?\n--\nContabilidad\nNIT 900123456-7",
        };
        assert!(Evidence::of_message(&text, &[], false).supplied.contains(&Nit));
    }

    #[test]
    fn nit_forms_in_text() {
        for written in [
            "Somos NIT 900.123.456-7",
            "nit: 900123456",
            "(NIT No. 901583226-7)",
            "Mi NIT es 900123456-7",
            "N.I.T. 900.123.456-7",
            "NIT 900 123 456-7",
            "NIT numero 900123456",
            "NIT900123456",
            "el NIT de la empresa es 900,123,456",
        ] {
            assert!(mentions_nit(&fold(written)), "{written}");
        }
        for not_a_nit in [
            "unit 900123456",
            "el NIT de la empresa",
            "NIT 123",
            "NIT pendiente de confirmar con contabilidad 900123456",
        ] {
            assert!(!mentions_nit(&fold(not_a_nit)), "{not_a_nit}");
        }
    }

    #[test]
    fn document_references_in_text() {
        for written in [
            "Consulta nota credito NC2291",
            "la factura SETT990004517 fue rechazada",
            "la factura número 990004517",
            "factura No. 12345",
            "nota crédito 4410",
        ] {
            assert!(mentions_document(written), "{written}");
        }
        assert!(mentions_document(&"ab12".repeat(24)));
        for not_a_document in [
            "Ayuda con factura rechazada: sale la regla FAD06 y NIE024",
            "[FE-2026-000042] Re: el 25 de noviembre",
            "facturamos desde el 2024",
            "mi numero de celular 3001234567",
            "una factura. NIT 900123456",
            "la factura de 2024",
        ] {
            assert!(!mentions_document(not_a_document), "{not_a_document}");
        }
    }

    #[test]
    fn rejection_without_xml_requires_xml() {
        let evidence = of(
            "Ayuda con factura rechazada",
            "Mi factura sale rechazada y no sé qué hacer hoy",
            &[],
        );
        assert_eq!(evidence.missing(&ALL_FE), vec![Documento, Nit, Xml]);
    }

    #[test]
    fn no_rejection_means_xml_not_required() {
        let evidence = of(
            "Consulta nota credito NC2291",
            "¿La nota crédito debe llevar referencia? NIT 901.118.342-0",
            &[],
        );
        assert!(evidence.missing(&ALL_FE).is_empty());
    }

    #[test]
    fn short_text_is_no_description() {
        let evidence = of("Hola", "ayuda urgente", &[]);
        assert!(evidence.missing(&[Descripcion]).contains(&Descripcion));
    }

    #[test]
    fn a_follow_up_supplies_what_was_missing() {
        let mut case =
            of("Factura rechazada", "Mi factura sale rechazada, ¿qué hago con ella?", &[]);
        assert_eq!(case.missing(&ALL_FE), vec![Documento, Nit, Xml]);
        let mut invoice = Document::new(DocumentKind::Invoice, "f.xml");
        invoice.number = Some("LCE4821".into());
        invoice.supplier_nit = Some("900481236".into());
        case.merge(&of("RE: [FE-2026-000001]", "Adjunto", &[invoice]));
        assert!(case.missing(&ALL_FE).is_empty());
    }

    #[test]
    fn an_evidence_file_supplies_the_evidence() {
        let text = MessageText { subject: "", own_words: "", body: "" };
        assert!(Evidence::of_message(&text, &[], true).supplied.contains(&Evidencia));
        assert!(!Evidence::of_message(&text, &[], false).supplied.contains(&Evidencia));
    }

    #[test]
    fn unknown_xml_is_not_the_xml() {
        let other = Document::new(DocumentKind::UnknownXml, "otro.xml");
        let evidence = of("", "rechazada", &[other]);
        assert!(evidence.missing(&[Xml]).contains(&Xml));
    }
}
