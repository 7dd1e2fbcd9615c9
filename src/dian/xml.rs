//! Streaming, namespace-tolerant reader of DIAN XML.
//!
//! One pass of quick-xml's `NsReader` over the file: every element is matched on its local name
//! and its path from the root (providers use different prefixes, and nested `cac:*` groups carry
//! their own `cbc:ID`/`cbc:UUID`, so only exact paths count). Text is kept only for the element
//! being read, and documents carried as text (AttachedDocument `cbc:Description`, SOAP
//! `XmlBase64Bytes`) are read afterwards as files of their own.
//!
//! Safety: any DOCTYPE is refused before its content is looked at, so no DTD is read and no
//! custom entity is ever expanded (billion laughs, external entities); only the five predefined
//! entities and character references are resolved. Size, nesting depth and embedding depth are
//! capped. Nothing here panics on input.
//!
//! Encoding: UTF-8, with or without BOM. A file declaring ISO-8859-1 or Windows-1252 is decoded
//! by hand, unless it is valid UTF-8 anyway (mislabelled files are common and text in Latin-1
//! with accents is practically never valid UTF-8). Other encodings (UTF-16…) are refused.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use quick_xml::NsReader;
use quick_xml::XmlVersion;
use quick_xml::errors::{Error as QxError, IllFormedError, SyntaxError};
use quick_xml::escape::{EscapeError, resolve_predefined_entity};
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::{NamespaceError, ResolveResult};

use super::checks::{nit_dv_finding, uuid_findings};
use super::nit::normalize_nit;
use super::rules::{leading_severity, rejections_in_text};
use super::{Document, DocumentKind, Embedding, Environment, Finding, Rejection};

/// Caps for one XML file.
#[derive(Debug, Clone, Copy)]
pub struct XmlLimits {
    /// Largest XML file read, in bytes; every embedded document is held to it too.
    pub max_bytes: usize,
    /// Deepest element nesting accepted.
    pub max_depth: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        XmlLimits { max_bytes: 20 * 1024 * 1024, max_depth: 256 }
    }
}

/// How many documents-inside-documents are followed (SOAP → AttachedDocument → Invoice is 2).
/// Each level re-reads a part of its parent, so this also bounds the total work.
const MAX_EMBEDDING_DEPTH: usize = 3;

/// What DIAN's ApplicationResponse uses for its status lines, not rules: 0000 approved,
/// 0001 approved with notifications, 0003 rejected.
const STATUS_LINE_CODES: [&str; 3] = ["0000", "0001", "0003"];

/// Why an XML file could not be used. `Display` is Spanish, for the requester and the agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlProblem {
    #[error("El archivo XML está vacío. Envíe de nuevo el archivo XML tal como lo validó la DIAN.")]
    Empty,
    #[error(
        "El archivo XML pesa {size} bytes y el máximo que se acepta es {max} bytes. Envíe solo el \
         XML del documento (el AttachedDocument), sin anexos ni otros archivos dentro."
    )]
    TooLarge { size: usize, max: usize },
    #[error(
        "El archivo no es texto UTF-8 válido (desde el byte {offset}): está dañado o no es un XML. \
         La DIAN exige UTF-8: envíe de nuevo el archivo XML tal como lo validó la DIAN, sin \
         abrirlo ni guardarlo con otro programa."
    )]
    NotUtf8 { offset: usize },
    #[error(
        "El XML está en la codificación «{0}», que no se acepta (la DIAN exige UTF-8). Envíe de \
         nuevo el archivo XML tal como lo validó la DIAN."
    )]
    UnsupportedEncoding(String),
    #[error(
        "El XML trae una declaración DOCTYPE (DTD o definición de entidades), que no se acepta \
         por seguridad y que los documentos de la DIAN no llevan. Envíe el archivo XML original \
         tal como lo validó la DIAN."
    )]
    Doctype,
    #[error(
        "El XML usa la entidad «&{0};», que no está definida. Envíe el archivo XML original tal \
         como lo validó la DIAN."
    )]
    UnknownEntity(String),
    #[error(
        "El XML usa el prefijo de espacio de nombres «{0}» sin declararlo (falta xmlns:{0}); la \
         DIAN rechaza estos archivos con «Namespace prefix '{0}' is not defined». Pida a su \
         proveedor tecnológico que genere y firme de nuevo el documento."
    )]
    UndeclaredPrefix(String),
    #[error(
        "El XML anida más de {max} elementos, algo que ningún documento de la DIAN hace. Envíe de \
         nuevo el archivo XML tal como lo validó la DIAN."
    )]
    TooDeep { max: usize },
    #[error(
        "El XML está incompleto: termina antes de cerrar {}; quizá se cortó al copiarlo o \
         adjuntarlo. Envíe de nuevo el archivo XML completo.",
        open.as_deref().map_or("una etiqueta".to_string(), |name| format!("«{name}»"))
    )]
    Truncated { open: Option<String> },
    #[error(
        "El archivo no contiene ningún elemento XML. Envíe el archivo XML del documento \
         electrónico (no el PDF ni una imagen)."
    )]
    NoRoot,
    #[error(
        "El XML no está bien formado: {0}. Envíe de nuevo el archivo XML tal como lo validó la \
         DIAN."
    )]
    Malformed(String),
}

/// Reads every document in one XML file: the file's own document first, then the documents it
/// carries as text (each right after its container, with `source` suffixed `#RootName`).
/// Call [`super::cross_check`] on all documents of a message afterwards.
pub fn read_documents(
    xml: &[u8],
    source: &str,
    limits: &XmlLimits,
) -> Result<Vec<Document>, XmlProblem> {
    read_file(xml, source, None, limits, 0)
}

fn read_file(
    xml: &[u8],
    source: &str,
    role: Option<Embedding>,
    limits: &XmlLimits,
    depth: usize,
) -> Result<Vec<Document>, XmlProblem> {
    if xml.len() > limits.max_bytes {
        return Err(XmlProblem::TooLarge { size: xml.len(), max: limits.max_bytes });
    }
    let text = decode(xml)?;
    if text.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}').is_empty() {
        return Err(XmlProblem::Empty);
    }
    let Parsed { root, mut doc, payloads } = parse(&text, limits)?;
    doc.source = match role {
        Some(_) => format!("{source}#{root}"),
        None => source.to_string(),
    };
    doc.embedded = role;
    let mut inner = Vec::new();
    for payload in payloads {
        read_payload(&mut doc, &mut inner, payload, limits, depth);
    }
    let mut docs = vec![doc];
    docs.extend(inner);
    Ok(docs)
}

/// Reads one embedded document; when it cannot be read the container keeps an
/// `embedded_unreadable` finding instead.
fn read_payload(
    container: &mut Document,
    out: &mut Vec<Document>,
    payload: Payload,
    limits: &XmlLimits,
    depth: usize,
) {
    let role = payload.role;
    let result = if depth + 1 > MAX_EMBEDDING_DEPTH {
        Err(format!("hay más de {MAX_EMBEDDING_DEPTH} documentos anidados unos dentro de otros"))
    } else {
        payload.into_bytes().and_then(|bytes| {
            read_file(&bytes, &container.source, Some(role), limits, depth + 1)
                .map_err(|problem| problem.to_string())
        })
    };
    match result {
        Ok(docs) => out.extend(docs),
        Err(reason) => {
            let detail = format!("No se pudo leer {}: {reason}", payload_place(role));
            container.findings.push(Finding::new("embedded_unreadable", detail));
        }
    }
}

fn payload_place(role: Embedding) -> &'static str {
    match role {
        Embedding::Attachment => {
            "la factura o nota que trae el contenedor (cac:Attachment/…/cbc:Description)"
        }
        Embedding::DianValidation => {
            "la respuesta de la DIAN que trae el contenedor \
             (cac:ParentDocumentLineReference/…/cbc:Description)"
        }
        Embedding::SoapPayload => "la respuesta de la DIAN codificada en b:XmlBase64Bytes",
    }
}

/// A document carried as text inside another one.
struct Payload {
    role: Embedding,
    text: String,
    base64: bool,
}

impl Payload {
    /// The embedded file's bytes: trimmed, BOM dropped, base64 decoded when needed.
    fn into_bytes(self) -> Result<Vec<u8>, String> {
        let text = self.text.trim().trim_start_matches('\u{feff}').trim_start();
        if text.is_empty() {
            return Err("el elemento está vacío".to_string());
        }
        if !self.base64 {
            return Ok(text.as_bytes().to_vec());
        }
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        BASE64
            .decode(compact.as_bytes())
            .map_err(|_| "el contenido no es base64 válido (¿está cortado?)".to_string())
    }
}

/// Standard alphabet; DIAN pads, copies pasted by hand sometimes lose the `=`.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

// ---------------------------------------------------------------------------------------------
// Encoding

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The file as text; see the module doc for the encodings accepted and why.
fn decode(xml: &[u8]) -> Result<Cow<'_, str>, XmlProblem> {
    if xml.is_empty() {
        return Err(XmlProblem::Empty);
    }
    if looks_utf16(xml) {
        return Err(XmlProblem::UnsupportedEncoding("UTF-16".to_string()));
    }
    let (body, bom_len) = match xml.strip_prefix(UTF8_BOM) {
        Some(body) => (body, UTF8_BOM.len()),
        None => (xml, 0),
    };
    if let Some(name) = declared_encoding(body)
        && !is_utf8_name(&name)
    {
        let Some(table) = latin_family(&name) else {
            return Err(XmlProblem::UnsupportedEncoding(name));
        };
        // Mislabelled UTF-8 is common, and Latin-1 text with accents is almost never valid UTF-8.
        return Ok(match std::str::from_utf8(body) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => Cow::Owned(body.iter().map(|&b| table(b)).collect()),
        });
    }
    std::str::from_utf8(body)
        .map(Cow::Borrowed)
        .map_err(|e| XmlProblem::NotUtf8 { offset: e.valid_up_to() + bom_len })
}

fn looks_utf16(xml: &[u8]) -> bool {
    xml.starts_with(b"\xFF\xFE")
        || xml.starts_with(b"\xFE\xFF")
        || xml.starts_with(b"<\0")
        || xml.starts_with(b"\0<")
}

fn is_utf8_name(name: &str) -> bool {
    ["utf-8", "utf8", "us-ascii", "ascii"].iter().any(|n| name.eq_ignore_ascii_case(n))
}

/// The byte → char table for a Latin-1-family encoding name.
fn latin_family(name: &str) -> Option<fn(u8) -> char> {
    let name = name.to_ascii_lowercase();
    match name.as_str() {
        "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1" | "cp819"
        | "iso-ir-100" => Some(latin1_char),
        "windows-1252" | "cp1252" | "win-1252" => Some(windows1252_char),
        _ => None,
    }
}

fn latin1_char(byte: u8) -> char {
    char::from(byte)
}

/// Windows-1252 is Latin-1 except for 0x80–0x9F, where it has printable characters.
fn windows1252_char(byte: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match byte {
        0x80..=0x9F => HIGH[usize::from(byte - 0x80)],
        _ => char::from(byte),
    }
}

/// The `encoding` pseudo-attribute of the XML declaration, if the file starts with one.
fn declared_encoding(body: &[u8]) -> Option<String> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = body.get(start..body.len().min(start + 1024))?;
    let decl = &head[..head.windows(2).position(|w| w == b"?>")?];
    if !decl.starts_with(b"<?xml") {
        return None;
    }
    let at = decl.windows(8).position(|w| w == b"encoding")? + 8;
    let rest = decl[at..].trim_ascii_start().strip_prefix(b"=")?.trim_ascii_start();
    let (&quote, rest) = rest.split_first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let value = &rest[..rest.iter().position(|&b| b == quote)?];
    Some(String::from_utf8_lossy(value).trim().to_string())
}

// ---------------------------------------------------------------------------------------------
// Event loop

/// One open element: local name and attributes (local name, value).
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(key, _)| key == name).map(|(_, value)| value.trim())
    }
}

/// What one XML file yields before embedded documents are read.
struct Parsed {
    root: String,
    doc: Document,
    payloads: Vec<Payload>,
}

fn parse(text: &str, limits: &XmlLimits) -> Result<Parsed, XmlProblem> {
    let mut reader = NsReader::from_str(text);
    let mut walk = Walk::default();
    loop {
        let event = match reader.read_resolved_event() {
            Ok((ResolveResult::Unknown(prefix), _)) => {
                return Err(XmlProblem::UndeclaredPrefix(prefix));
            }
            Ok((_, event)) => event,
            Err(error) => {
                let line = line_of(text, reader.error_position());
                return Err(problem_from(error, line, walk.open_name()));
            }
        };
        match event {
            Event::Start(start) => walk.open(element(&reader, &start)?, limits)?,
            Event::Empty(start) => {
                walk.open(element(&reader, &start)?, limits)?;
                walk.close()?;
            }
            Event::End(_) => walk.close()?,
            Event::Text(t) => walk.text(&t.xml10_content())?,
            Event::CData(c) => walk.text(&c.xml10_content())?,
            Event::GeneralRef(r) => walk.text(&resolve_reference(&r)?)?,
            Event::DocType(_) => return Err(XmlProblem::Doctype),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    walk.finish()
}

/// Reads an element's name and attributes, refusing attribute prefixes nobody declared.
fn element(reader: &NsReader<&[u8]>, start: &BytesStart) -> Result<Element, XmlProblem> {
    let name = start.local_name().as_ref().to_string();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| {
            XmlProblem::Malformed(format!(
                "hay un atributo mal escrito en «{name}» (detalle técnico: {e})"
            ))
        })?;
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        if let ResolveResult::Unknown(prefix) = reader.resolver().resolve_attribute(attr.key).0 {
            return Err(XmlProblem::UndeclaredPrefix(prefix));
        }
        let value = attr.normalized_value(XmlVersion::Implicit1_0).map_err(|e| match e {
            QxError::Escape(EscapeError::UnrecognizedEntity(_, entity)) => {
                XmlProblem::UnknownEntity(entity)
            }
            other => XmlProblem::Malformed(format!(
                "un atributo de «{name}» es inválido (detalle técnico: {other})"
            )),
        })?;
        attrs.push((attr.key.local_name().as_ref().to_string(), value.into_owned()));
    }
    Ok(Element { name, attrs })
}

/// `&lt;` and friends and `&#…;` only: there is no DTD, so any other name is undefined.
fn resolve_reference(reference: &BytesRef) -> Result<String, XmlProblem> {
    match reference.resolve_char_ref() {
        Ok(Some(c)) => Ok(c.to_string()),
        Ok(None) => resolve_predefined_entity(reference)
            .map(str::to_string)
            .ok_or_else(|| XmlProblem::UnknownEntity(reference.to_string())),
        Err(_) => Err(XmlProblem::Malformed(format!(
            "la referencia de carácter «&{};» es inválida",
            &**reference
        ))),
    }
}

fn line_of(text: &str, position: u64) -> usize {
    let end = usize::try_from(position).unwrap_or(usize::MAX).min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Translates quick-xml's error into what the requester can act on.
fn problem_from(error: QxError, line: usize, open: Option<String>) -> XmlProblem {
    match error {
        QxError::Syntax(SyntaxError::InvalidBangMarkup) => XmlProblem::Malformed(format!(
            "hay una marca «<!» desconocida cerca de la línea {line}"
        )),
        QxError::Syntax(_) => XmlProblem::Truncated { open },
        QxError::IllFormed(IllFormedError::UnclosedReference) => XmlProblem::Malformed(format!(
            "cerca de la línea {line} hay un «&» suelto, que en XML debe escribirse «&amp;»"
        )),
        QxError::IllFormed(IllFormedError::MissingEndTag(tag)) => {
            XmlProblem::Truncated { open: Some(tag) }
        }
        QxError::IllFormed(IllFormedError::MismatchedEndTag { expected, found }) => {
            XmlProblem::Malformed(format!(
                "en la línea {line} se cierra «{found}» cuando se esperaba cerrar «{expected}»"
            ))
        }
        QxError::IllFormed(IllFormedError::UnmatchedEndTag(tag)) => XmlProblem::Malformed(format!(
            "en la línea {line} se cierra «{tag}», que nunca se abrió"
        )),
        QxError::Escape(EscapeError::UnrecognizedEntity(_, entity)) => {
            XmlProblem::UnknownEntity(entity)
        }
        QxError::Namespace(NamespaceError::UnknownPrefix(prefix)) => {
            XmlProblem::UndeclaredPrefix(prefix)
        }
        QxError::Encoding(_) => XmlProblem::NotUtf8 { offset: 0 },
        other => XmlProblem::Malformed(format!(
            "error de estructura cerca de la línea {line} (detalle técnico: {other})"
        )),
    }
}

/// The path of open elements, the text of the innermost one and the document being filled.
#[derive(Default)]
struct Walk {
    path: Vec<Element>,
    text: String,
    builder: Option<Builder>,
}

impl Walk {
    fn open_name(&self) -> Option<String> {
        self.path.last().map(|e| e.name.clone())
    }

    fn open(&mut self, element: Element, limits: &XmlLimits) -> Result<(), XmlProblem> {
        if self.path.is_empty() {
            if self.builder.is_some() {
                let detail = format!("hay un segundo elemento raíz («{}»)", element.name);
                return Err(XmlProblem::Malformed(detail));
            }
            self.builder = Some(Builder::new(&element.name));
        }
        if self.path.len() >= limits.max_depth {
            return Err(XmlProblem::TooDeep { max: limits.max_depth });
        }
        self.text.clear();
        self.path.push(element);
        Ok(())
    }

    fn close(&mut self) -> Result<(), XmlProblem> {
        let Some(builder) = self.builder.as_mut() else {
            return Err(XmlProblem::Malformed("hay una etiqueta de cierre sin apertura".into()));
        };
        builder.element(&self.path, &mut self.text);
        self.path.pop();
        self.text.clear();
        Ok(())
    }

    fn text(&mut self, text: &str) -> Result<(), XmlProblem> {
        if !self.path.is_empty() {
            self.text.push_str(text);
        } else if !text.trim().is_empty() {
            let detail = "hay texto fuera del elemento raíz (¿es de verdad un archivo XML?)";
            return Err(XmlProblem::Malformed(detail.into()));
        }
        Ok(())
    }

    fn finish(self) -> Result<Parsed, XmlProblem> {
        if let Some(open) = self.path.last() {
            return Err(XmlProblem::Truncated { open: Some(open.name.clone()) });
        }
        self.builder.map(Builder::finish).ok_or(XmlProblem::NoRoot)
    }
}

// ---------------------------------------------------------------------------------------------
// Fields

/// Which family of layout the root element announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Schema {
    /// Invoice, CreditNote, DebitNote, ApplicationResponse, AttachedDocument.
    Ubl,
    /// NominaIndividual, NominaIndividualDeAjuste: data in attributes.
    Nomina,
    /// Anything else, e.g. a SOAP envelope with a `DianResponse`.
    Other,
}

/// Identification found for one party, best source first when finishing.
#[derive(Default)]
struct PartySlots {
    tax_scheme_id: Option<String>,
    tax_scheme_name: Option<String>,
    legal_id: Option<String>,
    legal_name: Option<String>,
    trade_name: Option<String>,
}

impl PartySlots {
    fn id(&mut self) -> Option<String> {
        self.tax_scheme_id.take().or(self.legal_id.take())
    }

    fn name(&mut self) -> Option<String> {
        self.tax_scheme_name.take().or(self.legal_name.take()).or(self.trade_name.take())
    }
}

/// Fills one [`Document`] from the elements as they close.
struct Builder {
    root: String,
    schema: Schema,
    doc: Document,
    payloads: Vec<Payload>,
    supplier: PartySlots,
    customer: PartySlots,
    document_currency: Option<String>,
    /// ResponseCode and Description of the LineResponse being read.
    line: (Option<String>, Option<String>),
    /// Per rejection: whether its text said Rechazo/Notificación itself.
    severity_written: Vec<bool>,
    nit_findings: Vec<Finding>,
}

impl Builder {
    fn new(root: &str) -> Self {
        let schema = match root {
            "Invoice" | "CreditNote" | "DebitNote" | "ApplicationResponse" | "AttachedDocument" => {
                Schema::Ubl
            }
            "NominaIndividual" | "NominaIndividualDeAjuste" => Schema::Nomina,
            _ => Schema::Other,
        };
        Builder {
            root: root.to_string(),
            schema,
            doc: Document::new(DocumentKind::UnknownXml, ""),
            payloads: Vec::new(),
            supplier: PartySlots::default(),
            customer: PartySlots::default(),
            document_currency: None,
            line: (None, None),
            severity_written: Vec::new(),
            nit_findings: Vec::new(),
        }
    }

    /// Called when the last element of `path` closes, with its text (leaf elements only have
    /// meaningful text).
    fn element(&mut self, path: &[Element], text: &mut String) {
        let Some(leaf) = path.last() else { return };
        let names: Vec<&str> = path.iter().skip(1).map(|e| e.name.as_str()).collect();
        match self.schema {
            Schema::Ubl => {
                self.check_scheme_dv(&names, leaf, text.trim());
                self.ubl_header(&names, leaf, text.trim());
                self.ubl_party(&names, text.trim());
                self.ubl_response(&names, text.trim());
                self.ubl_container(&names, text);
            }
            Schema::Nomina => self.nomina(strip_adjustment(&names), leaf, text.trim()),
            Schema::Other => self.soap(&names, text),
        }
    }

    fn ubl_header(&mut self, names: &[&str], leaf: &Element, value: &str) {
        let doc = &mut self.doc;
        match names {
            ["ID"] if self.root != "AttachedDocument" => set(&mut doc.number, value),
            ["ParentDocumentID"] if self.root == "AttachedDocument" => set(&mut doc.number, value),
            ["UUID"] if doc.uuid.is_none() => {
                set(&mut doc.uuid, value);
                set_opt(&mut doc.uuid_scheme, leaf.attr("schemeName"));
            }
            ["IssueDate"] => set(&mut doc.issue_date, value),
            ["ProfileExecutionID"] => set_environment(doc, value),
            ["InvoiceTypeCode" | "CreditNoteTypeCode" | "DebitNoteTypeCode"] => {
                set(&mut doc.type_code, value);
            }
            ["DocumentCurrencyCode"] => set(&mut self.document_currency, value),
            ["LegalMonetaryTotal" | "RequestedMonetaryTotal", "PayableAmount"] => {
                set(&mut doc.payable_amount, value);
                set_opt(&mut doc.currency, leaf.attr("currencyID"));
            }
            ["UBLExtensions", .., "SoftwareProvider", "ProviderID"] => {
                set_opt(&mut doc.software_provider_nit, party_id(value).as_deref());
            }
            ["UBLExtensions", .., "SoftwareProvider", "SoftwareID"] => {
                set(&mut doc.software_id, value);
            }
            ["BillingReference", "InvoiceDocumentReference", "UUID"]
                if matches!(self.root.as_str(), "CreditNote" | "DebitNote") =>
            {
                set(&mut doc.referenced_uuid, value);
            }
            _ => {}
        }
    }

    fn ubl_party(&mut self, names: &[&str], value: &str) {
        let (party, rest) = match names {
            ["AccountingSupplierParty", "Party", rest @ ..] | ["SenderParty", rest @ ..] => {
                (&mut self.supplier, rest)
            }
            ["AccountingCustomerParty", "Party", rest @ ..] | ["ReceiverParty", rest @ ..] => {
                (&mut self.customer, rest)
            }
            _ => return,
        };
        match rest {
            ["PartyTaxScheme", "CompanyID"] => {
                set_opt(&mut party.tax_scheme_id, party_id(value).as_deref())
            }
            ["PartyTaxScheme", "RegistrationName"] => set(&mut party.tax_scheme_name, value),
            ["PartyLegalEntity", "CompanyID"] => {
                set_opt(&mut party.legal_id, party_id(value).as_deref())
            }
            ["PartyLegalEntity", "RegistrationName"] => set(&mut party.legal_name, value),
            ["PartyName", "Name"] => set(&mut party.trade_name, value),
            _ => {}
        }
    }

    /// ApplicationResponse: the overall code, the validated document and the rule lines.
    fn ubl_response(&mut self, names: &[&str], value: &str) {
        match names {
            ["DocumentResponse", "Response", "ResponseCode"] => {
                set(&mut self.doc.response_code, value);
            }
            ["DocumentResponse", "DocumentReference", "UUID"] => {
                set(&mut self.doc.referenced_uuid, value);
            }
            ["DocumentResponse", "LineResponse", "Response", "ResponseCode"] => {
                self.line.0 = Some(value.to_string());
            }
            ["DocumentResponse", "LineResponse", "Response", "Description"] => {
                self.line.1 = Some(value.to_string());
            }
            ["DocumentResponse", "LineResponse", "Response"] => {
                let (code, description) = std::mem::take(&mut self.line);
                if let Some((rejection, written)) = line_rejection(code, description) {
                    self.push_rejection(rejection, written);
                }
            }
            _ => {}
        }
    }

    /// AttachedDocument: the CUFE it points at and the two documents it carries as text.
    fn ubl_container(&mut self, names: &[&str], text: &mut String) {
        if self.root != "AttachedDocument" {
            return;
        }
        let role = match names {
            ["Attachment", "ExternalReference", "Description"] => Embedding::Attachment,
            ["ParentDocumentLineReference", "DocumentReference", "UUID"] => {
                set(&mut self.doc.referenced_uuid, text.trim());
                return;
            }
            [
                "ParentDocumentLineReference",
                "DocumentReference",
                "Attachment",
                "ExternalReference",
                "Description",
            ] => Embedding::DianValidation,
            _ => return,
        };
        self.payloads.push(Payload { role, text: std::mem::take(text), base64: false });
    }

    /// `nit_dv` for any CompanyID/ProviderID whose `@schemeName` says it is a NIT (31).
    fn check_scheme_dv(&mut self, names: &[&str], leaf: &Element, value: &str) {
        if !matches!(leaf.name.as_str(), "CompanyID" | "ProviderID" | "AuthorizationProviderID")
            || leaf.attr("schemeName") != Some("31")
        {
            return;
        }
        let (Some(dv), Some((nit, _))) = (leaf.attr("schemeID"), normalize_nit(value)) else {
            return;
        };
        if let Some(finding) = nit_dv_finding(&names.join("/"), &nit, dv) {
            self.nit_findings.push(finding);
        }
    }

    /// Nómina: the data sits in attributes of direct children of the root (or of
    /// `Reemplazar`/`Eliminar` in an adjustment).
    fn nomina(&mut self, names: &[&str], leaf: &Element, value: &str) {
        let doc = &mut self.doc;
        match names {
            ["NumeroSecuenciaXML"] => set_opt(&mut doc.number, leaf.attr("Numero")),
            ["InformacionGeneral"] => {
                set_opt(&mut doc.uuid, leaf.attr("CUNE"));
                set_opt(&mut doc.uuid_scheme, leaf.attr("EncripCUNE"));
                set_opt(&mut doc.type_code, leaf.attr("TipoXML"));
                set_opt(&mut doc.issue_date, leaf.attr("FechaGen"));
                set_opt(&mut doc.currency, leaf.attr("TipoMoneda"));
                set_environment(doc, leaf.attr("Ambiente").unwrap_or_default());
            }
            ["Empleador"] => {
                set_opt(&mut doc.supplier_nit, leaf.attr("NIT").and_then(party_id).as_deref());
                let name =
                    leaf.attr("RazonSocial").map(str::to_string).or_else(|| person_name(leaf));
                set_opt(&mut doc.supplier_name, name.as_deref());
                self.check_attribute_dv("Empleador", leaf);
            }
            ["Trabajador"] => {
                set_opt(&mut doc.customer_nit, leaf.attr("NumeroDocumento"));
                set_opt(&mut doc.customer_name, person_name(leaf).as_deref());
            }
            ["ProveedorXML"] => {
                let nit = leaf.attr("NIT").and_then(party_id);
                set_opt(&mut doc.software_provider_nit, nit.as_deref());
                set_opt(&mut doc.software_id, leaf.attr("SoftwareID"));
                self.check_attribute_dv("ProveedorXML", leaf);
            }
            ["ComprobanteTotal"] => set(&mut doc.payable_amount, value),
            ["ReemplazandoPredecesor" | "EliminandoPredecesor"] => {
                set_opt(&mut doc.referenced_uuid, leaf.attr("CUNEPred"));
            }
            _ => {}
        }
    }

    fn check_attribute_dv(&mut self, place: &str, leaf: &Element) {
        let nit = leaf.attr("NIT").and_then(normalize_nit);
        if let (Some((nit, _)), Some(dv)) = (nit, leaf.attr("DV"))
            && let Some(finding) = nit_dv_finding(&format!("{place}/@NIT"), &nit, dv)
        {
            self.nit_findings.push(finding);
        }
    }

    /// A SOAP reply of DIAN's web service: rule lines, the CUFE it answers about and the
    /// ApplicationResponse in base64.
    fn soap(&mut self, names: &[&str], text: &mut String) {
        match names {
            [.., "DianResponse", "ErrorMessage", "string"]
            | [.., "ErrorMessageList", _, "ProcessedMessage"] => {
                // DIAN wraps long rule texts over several lines; one rule per element.
                let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
                for rejection in rejections_in_text(&flat) {
                    self.push_rejection(rejection, true);
                }
            }
            [.., "DianResponse", "XmlDocumentKey"] => {
                set(&mut self.doc.referenced_uuid, text.trim())
            }
            [.., "DianResponse", "XmlBase64Bytes"] if !text.trim().is_empty() => {
                let text = std::mem::take(text);
                self.payloads.push(Payload { role: Embedding::SoapPayload, text, base64: true });
            }
            _ => {}
        }
    }

    fn push_rejection(&mut self, rejection: Rejection, severity_written: bool) {
        if self.doc.rejections.iter().any(|r| r.code.eq_ignore_ascii_case(&rejection.code)) {
            return;
        }
        self.doc.rejections.push(rejection);
        self.severity_written.push(severity_written);
    }

    fn finish(mut self) -> Parsed {
        let doc = &mut self.doc;
        doc.kind = kind_of(&self.root, doc.type_code.as_deref());
        doc.supplier_nit = doc.supplier_nit.take().or(self.supplier.id());
        doc.supplier_name = doc.supplier_name.take().or(self.supplier.name());
        doc.customer_nit = doc.customer_nit.take().or(self.customer.id());
        doc.customer_name = doc.customer_name.take().or(self.customer.name());
        doc.currency = doc.currency.take().or(self.document_currency);
        // A validated document (02) cannot carry rejections: unmarked lines are notifications.
        if doc.response_code.as_deref() == Some("02") {
            for (rejection, written) in doc.rejections.iter_mut().zip(&self.severity_written) {
                rejection.notification |= !written;
            }
        }
        let mut findings = uuid_findings(doc);
        findings.append(&mut self.nit_findings);
        doc.findings = findings;
        Parsed { root: self.root, doc: self.doc, payloads: self.payloads }
    }
}

/// A rule line of an ApplicationResponse, unless it is a status line (0000/0001/0003).
/// Also says whether the text itself named the severity.
fn line_rejection(code: Option<String>, description: Option<String>) -> Option<(Rejection, bool)> {
    let description = description.unwrap_or_default();
    let written = rejections_in_text(&description).into_iter().next();
    let code =
        code.filter(|c| !c.is_empty()).or_else(|| written.as_ref().map(|r| r.code.clone()))?;
    if STATUS_LINE_CODES.contains(&code.as_str()) {
        return None;
    }
    let (notification, text, severity_written) = match (written, leading_severity(&description)) {
        (Some(rule), _) => (rule.notification, rule.description, true),
        (None, Some((notification, rest))) => (notification, rest.to_string(), true),
        (None, None) => (false, description.trim().to_string(), false),
    };
    Some((Rejection { code, description: text, notification }, severity_written))
}

fn kind_of(root: &str, type_code: Option<&str>) -> DocumentKind {
    match (root, type_code.map(str::trim)) {
        ("Invoice", Some("05")) => DocumentKind::DocumentoSoporte,
        ("Invoice", _) => DocumentKind::Invoice,
        ("CreditNote", Some("95")) => DocumentKind::NotaAjusteDocumentoSoporte,
        ("CreditNote", _) => DocumentKind::CreditNote,
        ("DebitNote", _) => DocumentKind::DebitNote,
        ("AttachedDocument", _) => DocumentKind::AttachedDocument,
        ("ApplicationResponse", _) => DocumentKind::ApplicationResponse,
        ("NominaIndividual", _) => DocumentKind::NominaIndividual,
        ("NominaIndividualDeAjuste", _) => DocumentKind::NominaIndividualAjuste,
        _ => DocumentKind::UnknownXml,
    }
}

/// In a nómina adjustment the document sits under `Reemplazar` or `Eliminar`.
fn strip_adjustment<'a>(names: &'a [&'a str]) -> &'a [&'a str] {
    match names {
        ["Reemplazar" | "Eliminar", rest @ ..] => rest,
        _ => names,
    }
}

/// A party's identification: a NIT as digits without DV, other ids (passport…) as written.
fn party_id(text: &str) -> Option<String> {
    let text = text.trim();
    match normalize_nit(text) {
        Some((digits, _)) => Some(digits),
        None => (!text.is_empty()).then(|| text.to_string()),
    }
}

/// "Yeison Mosquera Valencia" from nómina name attributes.
fn person_name(element: &Element) -> Option<String> {
    let parts: Vec<&str> = ["PrimerNombre", "OtrosNombres", "PrimerApellido", "SegundoApellido"]
        .iter()
        .filter_map(|key| element.attr(key))
        .filter(|part| !part.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn set_environment(doc: &mut Document, value: &str) {
    if doc.environment.is_none() {
        doc.environment = match value.trim() {
            "1" => Some(Environment::Produccion),
            "2" => Some(Environment::Pruebas),
            _ => None,
        };
    }
}

/// First non-empty value wins: the fields appear once in a valid document.
fn set(slot: &mut Option<String>, value: &str) {
    let value = value.trim();
    if slot.is_none() && !value.is_empty() {
        *slot = Some(value.to_string());
    }
}

fn set_opt(slot: &mut Option<String>, value: Option<&str>) {
    if let Some(value) = value {
        set(slot, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(xml: &str) -> Result<Vec<Document>, XmlProblem> {
        read_documents(xml.as_bytes(), "t.xml", &XmlLimits::default())
    }

    const UBL: &str = r#"xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cbc="urn:cbc" xmlns:cac="urn:cac""#;

    #[test]
    fn only_direct_children_of_the_root_give_number_and_uuid() {
        let xml = format!(
            r#"<Invoice {UBL}><cac:BillingReference><cac:InvoiceDocumentReference><cbc:ID>OLD1</cbc:ID><cbc:UUID>x</cbc:UUID></cac:InvoiceDocumentReference></cac:BillingReference><cbc:ID>FE12</cbc:ID><cbc:UUID schemeName="CUFE-SHA384">abc</cbc:UUID><cbc:InvoiceTypeCode>01</cbc:InvoiceTypeCode></Invoice>"#
        );
        let docs = read(&xml).expect("well-formed");
        assert_eq!(docs[0].number.as_deref(), Some("FE12"));
        assert_eq!(docs[0].uuid.as_deref(), Some("abc"));
        assert_eq!(docs[0].referenced_uuid, None, "an invoice's BillingReference is not a note's");
    }

    #[test]
    fn prefixes_do_not_matter_only_local_names() {
        let xml = r#"<fe:Invoice xmlns:fe="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:b="urn:cbc"><b:ID>A1</b:ID><b:InvoiceTypeCode>05</b:InvoiceTypeCode></fe:Invoice>"#;
        let docs = read(xml).expect("well-formed");
        assert_eq!(docs[0].kind, DocumentKind::DocumentoSoporte);
        assert_eq!(docs[0].number.as_deref(), Some("A1"));
    }

    #[test]
    fn predefined_entities_and_char_refs_are_resolved() {
        let xml = format!(
            r#"<Invoice {UBL}><cac:AccountingSupplierParty><cac:Party><cac:PartyTaxScheme><cbc:RegistrationName>Caf&#233; &amp; Pan &#x2013; S.A.S.</cbc:RegistrationName></cac:PartyTaxScheme></cac:Party></cac:AccountingSupplierParty></Invoice>"#
        );
        let docs = read(&xml).expect("well-formed");
        assert_eq!(docs[0].supplier_name.as_deref(), Some("Café & Pan – S.A.S."));
    }

    #[test]
    fn undefined_entity_is_refused_by_name() {
        let xml = format!(r#"<Invoice {UBL}><cbc:ID>&lol9;</cbc:ID></Invoice>"#);
        assert_eq!(read(&xml), Err(XmlProblem::UnknownEntity("lol9".into())));
    }

    #[test]
    fn undeclared_attribute_prefix_is_refused() {
        let xml = format!(r#"<Invoice {UBL}><cbc:ID xsi:type="x">1</cbc:ID></Invoice>"#);
        assert_eq!(read(&xml), Err(XmlProblem::UndeclaredPrefix("xsi".into())));
    }

    #[test]
    fn latin1_declared_file_is_decoded_by_hand() {
        let mut xml = br#"<?xml version="1.0" encoding="ISO-8859-1"?><Invoice xmlns:cbc="u" xmlns:cac="a"><cac:SenderParty><cac:PartyTaxScheme><cbc:RegistrationName>"#.to_vec();
        xml.extend_from_slice(
            b"Panader\xEDa</cbc:RegistrationName></cac:PartyTaxScheme></cac:SenderParty></Invoice>",
        );
        let docs = read_documents(&xml, "l.xml", &XmlLimits::default()).expect("latin-1 accepted");
        assert_eq!(docs[0].supplier_name.as_deref(), Some("Panadería"));
        // Declared Latin-1 but really UTF-8 (a common mislabel): read as UTF-8.
        let mislabelled = String::from_utf8_lossy(&xml).replace('\u{fffd}', "í");
        let docs = read(&mislabelled).expect("mislabelled UTF-8 accepted");
        assert_eq!(docs[0].supplier_name.as_deref(), Some("Panadería"));
    }

    #[test]
    fn windows1252_maps_the_euro_sign() {
        assert_eq!(windows1252_char(0x80), '€');
        assert_eq!(windows1252_char(0xF1), 'ñ');
    }

    #[test]
    fn encodings_that_are_not_utf8_or_latin1_are_refused() {
        let xml = br#"<?xml version="1.0" encoding="Shift_JIS"?><a/>"#;
        let problem = read_documents(xml, "s.xml", &XmlLimits::default());
        assert_eq!(problem, Err(XmlProblem::UnsupportedEncoding("Shift_JIS".into())));
        let utf16 = b"\xFF\xFE<\0a\0/\0>\0";
        assert!(matches!(
            read_documents(utf16, "u.xml", &XmlLimits::default()),
            Err(XmlProblem::UnsupportedEncoding(_))
        ));
    }

    #[test]
    fn bad_utf8_is_reported_with_its_offset() {
        let xml = b"<a>\xC3\x28</a>";
        let problem = read_documents(xml, "b.xml", &XmlLimits::default());
        assert_eq!(problem, Err(XmlProblem::NotUtf8 { offset: 3 }));
    }

    #[test]
    fn a_second_root_text_outside_the_root_or_a_loose_ampersand_is_malformed() {
        assert!(matches!(read("<a/><b/>"), Err(XmlProblem::Malformed(_))));
        assert!(matches!(read("hola <a/>"), Err(XmlProblem::Malformed(_))));
        let Err(XmlProblem::Malformed(detail)) = read("<a>Pérez & Cía</a>") else {
            panic!("a loose & must be malformed");
        };
        assert!(detail.contains("&amp;"), "{detail}");
    }

    #[test]
    fn mismatched_end_tag_names_both_tags_in_spanish() {
        let Err(XmlProblem::Malformed(detail)) = read("<a>\n<b></c></a>") else {
            panic!("mismatched tags must be malformed");
        };
        assert!(
            detail.contains("«c»") && detail.contains("«b»") && detail.contains("línea 2"),
            "{detail}"
        );
    }

    #[test]
    fn line_rejection_skips_status_lines_and_reads_severity() {
        assert_eq!(line_rejection(Some("0000".into()), Some("Aprobado".into())), None);
        let (rule, written) = line_rejection(
            Some("FAJ43b".into()),
            Some("Regla: FAJ43b, Notificación: Nombre".into()),
        )
        .expect("rule line");
        assert!(rule.notification && written);
        assert_eq!(rule.description, "Nombre");
        let (rule, written) =
            line_rejection(Some("RUT01".into()), Some("Texto".into())).expect("rule");
        assert!(!rule.notification && !written);
    }

    #[test]
    fn rule_lines_of_a_validated_response_are_notifications() {
        let xml = r#"<ApplicationResponse xmlns:cac="c" xmlns:cbc="b"><cac:DocumentResponse><cac:Response><cbc:ResponseCode>02</cbc:ResponseCode></cac:Response><cac:LineResponse><cac:Response><cbc:ResponseCode>0001</cbc:ResponseCode><cbc:Description>ok</cbc:Description></cac:Response></cac:LineResponse><cac:LineResponse><cac:Response><cbc:ResponseCode>RUT01</cbc:ResponseCode><cbc:Description>La validación del estado del RUT próximamente estará disponible.</cbc:Description></cac:Response></cac:LineResponse></cac:DocumentResponse></ApplicationResponse>"#;
        let docs = read(xml).expect("well-formed");
        assert_eq!(docs[0].rejections.len(), 1);
        assert_eq!(docs[0].rejections[0].code, "RUT01");
        assert!(docs[0].rejections[0].notification);
    }

    #[test]
    fn embedding_depth_is_capped() {
        let mut xml = r#"<Invoice xmlns:cbc="b"><cbc:ID>IN</cbc:ID></Invoice>"#.to_string();
        for _ in 0..=MAX_EMBEDDING_DEPTH {
            let escaped = xml.replace('&', "&amp;").replace('<', "&lt;");
            xml = format!(
                r#"<AttachedDocument xmlns:cac="c" xmlns:cbc="b"><cac:Attachment><cac:ExternalReference><cbc:Description>{escaped}</cbc:Description></cac:ExternalReference></cac:Attachment></AttachedDocument>"#
            );
        }
        let docs = read(&xml).expect("outer container is fine");
        assert_eq!(docs.len(), MAX_EMBEDDING_DEPTH + 1);
        let deepest = docs.last().expect("at least one");
        assert_eq!(deepest.findings[0].check, "embedded_unreadable");
    }
}
