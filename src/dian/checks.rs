//! Integrity checks that need no secret key (dian.md §3.7).
//!
//! The CUFE/CUDE itself cannot be recomputed without the clave técnica or the software PIN, so
//! these checks look at what can be verified from the XML alone: the shape of the UUID, the
//! `@schemeName` that goes with the document type, the NIT check digits, and that the three
//! copies of the CUFE in an AttachedDocument agree.

use serde::Serialize;

use super::nit::check_digit;
use super::{Document, DocumentKind, Embedding};

/// One integrity problem, e.g. `{check: "cufe_mismatch", detail: "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable machine name of the check (`uuid_format`, `uuid_scheme`, `nit_dv`, `cufe_mismatch`,
    /// `embedded_unreadable`).
    pub check: String,
    /// What is wrong, in Spanish, for an agent.
    pub detail: String,
}

impl Finding {
    pub(crate) fn new(check: &str, detail: String) -> Self {
        Finding { check: check.to_string(), detail }
    }
}

/// Length of a SHA-384 digest written in hex.
const SHA384_HEX_LEN: usize = 96;

/// The `@schemeName` DIAN expects for the UUID of this document, when the type is known.
pub fn expected_uuid_scheme(kind: DocumentKind, type_code: Option<&str>) -> Option<&'static str> {
    match (kind, type_code.map(str::trim)) {
        (DocumentKind::Invoice, Some("01" | "02" | "04")) => Some("CUFE-SHA384"),
        (DocumentKind::Invoice, Some("03")) => Some("CUDE-SHA384"),
        (DocumentKind::CreditNote | DocumentKind::DebitNote, _) => Some("CUDE-SHA384"),
        (DocumentKind::ApplicationResponse, _) => Some("CUDE-SHA384"),
        (DocumentKind::DocumentoSoporte | DocumentKind::NotaAjusteDocumentoSoporte, _) => {
            Some("CUDS-SHA384")
        }
        (DocumentKind::NominaIndividual | DocumentKind::NominaIndividualAjuste, _) => {
            Some("CUNE-SHA384")
        }
        _ => None,
    }
}

/// Findings about one document's own UUID (`uuid_format`, `uuid_scheme`).
pub(crate) fn uuid_findings(doc: &Document) -> Vec<Finding> {
    let Some(expected) = expected_uuid_scheme(doc.kind, doc.type_code.as_deref()) else {
        return Vec::new();
    };
    let label = uuid_label(expected);
    let Some(uuid) = doc.uuid.as_deref() else {
        let detail = format!(
            "El documento no trae {label} (cbc:UUID o CUNE); la DIAN no lo pudo validar así."
        );
        return vec![Finding::new("uuid_format", detail)];
    };
    let mut findings = Vec::new();
    if !is_sha384_hex(uuid) {
        let detail = format!(
            "El {label} «{}» no tiene la forma esperada: 96 caracteres hexadecimales en minúscula \
             (tiene {} caracteres).",
            shorten(uuid),
            uuid.chars().count()
        );
        findings.push(Finding::new("uuid_format", detail));
    }
    if doc.uuid_scheme.as_deref().map(str::trim) != Some(expected) {
        let written = doc.uuid_scheme.as_deref().unwrap_or("(vacío)");
        let detail = format!(
            "El tipo de código único declarado es «{written}», pero para {} debe ser «{expected}».",
            kind_label(doc)
        );
        findings.push(Finding::new("uuid_scheme", detail));
    }
    findings
}

/// A `nit_dv` finding when the DV written next to a NIT (`@schemeID`, nómina `@DV`) is not the
/// one computed from the NIT. Unreadable NITs or DVs are left to DIAN's own rules.
pub(crate) fn nit_dv_finding(place: &str, nit: &str, written_dv: &str) -> Option<Finding> {
    let written: u8 = written_dv.trim().parse().ok()?;
    let computed = check_digit(nit)?;
    (written != computed).then(|| {
        let detail = format!(
            "El NIT {nit} en {place} trae DV {written}, pero el dígito de verificación correcto \
             es {computed} (la DIAN rechaza el documento por DV mal calculado)."
        );
        Finding::new("nit_dv", detail)
    })
}

/// Checks across the documents of one message: the CUFE in an AttachedDocument's line
/// reference, the uuid of the invoice/note inside it and the CUFE DIAN's ApplicationResponse
/// refers to must be the same (likewise `XmlDocumentKey` and the decoded response of a SOAP
/// reply). A difference becomes a `cufe_mismatch` finding on the container. Running it twice
/// adds nothing new.
pub fn cross_check(documents: &mut [Document]) {
    for i in 0..documents.len() {
        let Some((container, rest)) = documents[i..].split_first_mut() else { continue };
        let children = direct_children(&container.source, rest);
        if let Some(finding) = cufe_mismatch(container, &children)
            && !container.findings.contains(&finding)
        {
            container.findings.push(finding);
        }
    }
}

/// The documents read out of `source` itself (not out of its embedded containers). Embedded
/// documents follow their container in `read_documents` order.
fn direct_children<'a>(source: &str, rest: &'a [Document]) -> Vec<&'a Document> {
    let prefix = format!("{source}#");
    rest.iter()
        .take_while(|d| d.source.starts_with(&prefix))
        .filter(|d| d.embedded.is_some() && !d.source[prefix.len()..].contains('#'))
        .collect()
}

fn cufe_mismatch(container: &Document, children: &[&Document]) -> Option<Finding> {
    let mut copies: Vec<(String, &str)> = Vec::new();
    if let Some(uuid) = container.referenced_uuid.as_deref() {
        let place = match container.kind {
            DocumentKind::AttachedDocument => {
                "la referencia del contenedor (ParentDocumentLineReference)"
            }
            _ => "la respuesta SOAP (XmlDocumentKey)",
        };
        copies.push((place.to_string(), uuid));
    }
    for child in children {
        match child.embedded {
            Some(Embedding::Attachment) if child.kind != DocumentKind::ApplicationResponse => {
                if let Some(uuid) = child.uuid.as_deref() {
                    copies.push((format!("el documento adjunto {}", child_name(child)), uuid));
                }
            }
            Some(Embedding::DianValidation | Embedding::SoapPayload) => {
                if let Some(uuid) = child.referenced_uuid.as_deref() {
                    copies
                        .push(("la respuesta de la DIAN (ApplicationResponse)".to_string(), uuid));
                }
            }
            _ => {}
        }
    }
    let first = copies.first()?.1.trim();
    if copies.iter().all(|(_, uuid)| uuid.trim().eq_ignore_ascii_case(first)) {
        return None;
    }
    let listed: Vec<String> =
        copies.iter().map(|(place, uuid)| format!("{place}: {}", shorten(uuid.trim()))).collect();
    let detail = format!(
        "El CUFE no es el mismo en todas las partes del contenedor ({}). El archivo pudo armarse \
         con documentos distintos o alterarse: pida al emisor el AttachedDocument generado de \
         nuevo por su proveedor tecnológico.",
        listed.join("; ")
    );
    Some(Finding::new("cufe_mismatch", detail))
}

fn child_name(doc: &Document) -> String {
    match doc.number.as_deref() {
        Some(number) => format!("{number} ({})", doc.kind.as_str()),
        None => format!("({})", doc.kind.as_str()),
    }
}

fn is_sha384_hex(uuid: &str) -> bool {
    uuid.len() == SHA384_HEX_LEN && uuid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// "d96f1533…d496": enough for an agent to compare by eye, short enough for a reply.
fn shorten(uuid: &str) -> String {
    let chars: Vec<char> = uuid.chars().collect();
    if chars.len() <= 16 {
        return uuid.to_string();
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

fn uuid_label(scheme: &str) -> &'static str {
    match scheme {
        "CUFE-SHA384" => "CUFE",
        "CUDS-SHA384" => "CUDS",
        "CUNE-SHA384" => "CUNE",
        _ => "CUDE",
    }
}

fn kind_label(doc: &Document) -> String {
    match doc.type_code.as_deref() {
        Some(code) => format!("{} tipo {code}", doc.kind.as_str()),
        None => doc.kind.as_str().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CUFE: &str = "d96f1533f0df6342ecdf29ead89c6039705250d2a5275e9799dc23df09a363e3fb5dcf4824c516402f73531dcba0d496";
    const OTHER: &str = "f9e2f3a442129887e8f0d846d77f2b466bd0c7530cbe0ac1a6838f660f063df435737c13acb5d6178251e58b5ad738c3";

    fn invoice(uuid: &str, scheme: &str) -> Document {
        let mut doc = Document::new(DocumentKind::Invoice, "f.xml");
        doc.type_code = Some("01".into());
        doc.uuid = Some(uuid.into());
        doc.uuid_scheme = Some(scheme.into());
        doc
    }

    fn checks(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.check.as_str()).collect()
    }

    #[test]
    fn a_well_formed_cufe_has_no_findings() {
        assert!(uuid_findings(&invoice(CUFE, "CUFE-SHA384")).is_empty());
    }

    #[test]
    fn uppercase_short_or_missing_uuid_is_uuid_format() {
        let upper = CUFE.to_uppercase();
        assert_eq!(checks(&uuid_findings(&invoice(&upper, "CUFE-SHA384"))), ["uuid_format"]);
        assert_eq!(checks(&uuid_findings(&invoice(&CUFE[..95], "CUFE-SHA384"))), ["uuid_format"]);
        let mut missing = invoice(CUFE, "CUFE-SHA384");
        missing.uuid = None;
        assert_eq!(checks(&uuid_findings(&missing)), ["uuid_format"]);
    }

    #[test]
    fn scheme_must_match_the_document_type() {
        assert_eq!(checks(&uuid_findings(&invoice(CUFE, "CUDE-SHA384"))), ["uuid_scheme"]);
        let mut contingency = invoice(CUFE, "CUFE-SHA384");
        contingency.type_code = Some("03".into());
        assert_eq!(checks(&uuid_findings(&contingency)), ["uuid_scheme"]);
        contingency.uuid_scheme = Some("CUDE-SHA384".into());
        assert!(uuid_findings(&contingency).is_empty());
    }

    #[test]
    fn expected_schemes_follow_dian_table() {
        use DocumentKind::*;
        assert_eq!(expected_uuid_scheme(Invoice, Some("02")), Some("CUFE-SHA384"));
        assert_eq!(expected_uuid_scheme(CreditNote, Some("91")), Some("CUDE-SHA384"));
        assert_eq!(expected_uuid_scheme(DebitNote, None), Some("CUDE-SHA384"));
        assert_eq!(expected_uuid_scheme(ApplicationResponse, None), Some("CUDE-SHA384"));
        assert_eq!(expected_uuid_scheme(DocumentoSoporte, Some("05")), Some("CUDS-SHA384"));
        assert_eq!(
            expected_uuid_scheme(NotaAjusteDocumentoSoporte, Some("95")),
            Some("CUDS-SHA384")
        );
        assert_eq!(expected_uuid_scheme(NominaIndividualAjuste, Some("103")), Some("CUNE-SHA384"));
        assert_eq!(expected_uuid_scheme(AttachedDocument, None), None);
        assert_eq!(expected_uuid_scheme(Invoice, Some("20")), None);
    }

    #[test]
    fn wrong_dv_is_reported_with_the_right_one() {
        let finding = nit_dv_finding("PartyLegalEntity/CompanyID", "800197268", "9");
        let finding = finding.expect("DV 9 is wrong for 800197268");
        assert_eq!(finding.check, "nit_dv");
        assert!(finding.detail.contains("es 4"), "{}", finding.detail);
        assert_eq!(nit_dv_finding("x", "800197268", "4"), None);
        assert_eq!(nit_dv_finding("x", "800197268", ""), None);
    }

    fn container(line_uuid: &str) -> Vec<Document> {
        let mut ad = Document::new(DocumentKind::AttachedDocument, "ad.xml");
        ad.referenced_uuid = Some(line_uuid.into());
        let mut inner = invoice(CUFE, "CUFE-SHA384");
        inner.source = "ad.xml#Invoice".into();
        inner.number = Some("LCE4821".into());
        inner.embedded = Some(Embedding::Attachment);
        let mut ar = Document::new(DocumentKind::ApplicationResponse, "ad.xml#ApplicationResponse");
        ar.referenced_uuid = Some(CUFE.into());
        ar.embedded = Some(Embedding::DianValidation);
        vec![ad, inner, ar]
    }

    #[test]
    fn matching_copies_give_no_finding() {
        let mut docs = container(CUFE);
        cross_check(&mut docs);
        assert!(docs.iter().all(|d| d.findings.is_empty()));
    }

    #[test]
    fn a_different_copy_is_a_mismatch_on_the_container_only_once() {
        let mut docs = container(OTHER);
        cross_check(&mut docs);
        cross_check(&mut docs);
        assert_eq!(checks(&docs[0].findings), ["cufe_mismatch"]);
        assert!(docs[0].findings[0].detail.contains("f9e2f3a4…38c3"));
        assert!(docs[1].findings.is_empty() && docs[2].findings.is_empty());
    }

    #[test]
    fn documents_of_another_file_are_not_compared() {
        let mut docs = container(CUFE);
        let mut other = invoice(OTHER, "CUFE-SHA384");
        other.source = "ad.xml.bak#Invoice".into();
        other.embedded = Some(Embedding::Attachment);
        docs.push(other);
        cross_check(&mut docs);
        assert!(docs[0].findings.is_empty());
    }
}
