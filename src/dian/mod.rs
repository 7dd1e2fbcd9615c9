//! DIAN electronic documents: what a support agent needs from the XML a requester attached.
//!
//! [`read_documents`] takes the bytes of one XML file and returns every document found in it:
//! an `AttachedDocument` yields its own entry plus the invoice/note and the DIAN
//! `ApplicationResponse` carried inside it as text. Reading is streaming (quick-xml),
//! namespace-tolerant (elements are matched on local names) and refuses DOCTYPE/entity
//! declarations, so entity-expansion bombs cannot run. [`cross_check`] then compares the
//! documents of one message with each other (the same CUFE everywhere in a container).

pub mod checks;
pub mod nit;
pub mod rules;
pub mod xml;

use serde::Serialize;

pub use checks::{Finding, cross_check, expected_uuid_scheme};
pub use rules::rejections_in_text;
pub use xml::{XmlLimits, XmlProblem, read_documents};

crate::names::named_enum! {
    /// Which DIAN document an XML file holds.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum DocumentKind {
        /// `Invoice` with type code 01, 02, 03 or 04.
        Invoice = "invoice",
        /// `CreditNote` 91.
        CreditNote = "credit_note",
        /// `DebitNote` 92.
        DebitNote = "debit_note",
        /// `Invoice` with type code 05.
        DocumentoSoporte = "documento_soporte",
        /// `CreditNote` 95.
        NotaAjusteDocumentoSoporte = "nota_ajuste_documento_soporte",
        AttachedDocument = "attached_document",
        /// DIAN's validation result (02/04) or a RADIAN/acceptance event (030–046).
        ApplicationResponse = "application_response",
        /// `NominaIndividual` (TipoXML 102).
        NominaIndividual = "nomina_individual",
        /// `NominaIndividualDeAjuste` (TipoXML 103).
        NominaIndividualAjuste = "nomina_individual_ajuste",
        /// Well-formed XML that is not a DIAN document we know (a SOAP reply, another schema…).
        UnknownXml = "unknown_xml",
    }
}

/// `cbc:ProfileExecutionID` / nómina `@Ambiente`: 1 = producción, 2 = pruebas (habilitación).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Produccion,
    Pruebas,
}

/// Where an embedded document sat inside the document that carried it as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Embedding {
    /// AttachedDocument `cac:Attachment/cac:ExternalReference/cbc:Description`: the invoice or
    /// note the container carries.
    Attachment,
    /// AttachedDocument `cac:ParentDocumentLineReference/…/cbc:Description`: DIAN's
    /// ApplicationResponse validating it.
    DianValidation,
    /// SOAP `DianResponse/b:XmlBase64Bytes`: DIAN's ApplicationResponse, base64-encoded.
    SoapPayload,
}

/// One DIAN validation rule reported against a document ("Regla: FAD06, Rechazo: …").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub code: String,
    pub description: String,
    /// `true` for a notification (`Notificación`, the document is still valid; also every rule
    /// line of an ApplicationResponse that validated the document, code 02), `false` for a
    /// rejection or when the source does not say.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub notification: bool,
}

/// What mesa-fe reads from one DIAN document. Every field is optional because support mail
/// carries broken and partial documents; NITs are digits only, without the check digit (DV).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    pub kind: DocumentKind,
    /// InvoiceTypeCode / CreditNoteTypeCode / DebitNoteTypeCode, nómina TipoXML (102/103).
    pub type_code: Option<String>,
    /// CUFE / CUDE / CUDS / CUNE as written (lower-cased hex expected).
    pub uuid: Option<String>,
    /// `cbc:UUID/@schemeName` or nómina `@EncripCUNE`, e.g. `CUFE-SHA384`.
    pub uuid_scheme: Option<String>,
    /// `cbc:ID` (prefix + consecutive); nómina `NumeroSecuenciaXML/@Numero`.
    pub number: Option<String>,
    /// `cbc:IssueDate` / nómina `@FechaGen`, as written (YYYY-MM-DD).
    pub issue_date: Option<String>,
    pub environment: Option<Environment>,
    /// Issuer: AccountingSupplierParty, ApplicationResponse SenderParty, nómina Empleador,
    /// AttachedDocument SenderParty.
    pub supplier_nit: Option<String>,
    pub supplier_name: Option<String>,
    /// AccountingCustomerParty, ApplicationResponse ReceiverParty, AttachedDocument ReceiverParty,
    /// nómina Trabajador's document number.
    pub customer_nit: Option<String>,
    pub customer_name: Option<String>,
    /// `sts:SoftwareProvider/sts:ProviderID`, nómina `ProveedorXML/@NIT`.
    pub software_provider_nit: Option<String>,
    pub software_id: Option<String>,
    /// `LegalMonetaryTotal/PayableAmount` (`RequestedMonetaryTotal` in DebitNote), nómina
    /// `ComprobanteTotal`, as written.
    pub payable_amount: Option<String>,
    pub currency: Option<String>,
    /// ApplicationResponse `DocumentResponse/Response/ResponseCode` (02, 04, 030…046).
    pub response_code: Option<String>,
    /// Rule lines of a DIAN ApplicationResponse (codes other than 0000/0001/0003) or of a SOAP
    /// `DianResponse`.
    pub rejections: Vec<Rejection>,
    /// The CUFE/CUDE this document points at: ApplicationResponse `DocumentReference/UUID`,
    /// AttachedDocument `ParentDocumentLineReference/…/UUID`, nómina ajuste `CUNEPred`,
    /// note `BillingReference/…/UUID`.
    pub referenced_uuid: Option<String>,
    /// Where it came from: attachment path, e.g. `z0800.zip/ad0800.xml`, and for an embedded
    /// document a suffix `#Invoice` / `#ApplicationResponse`.
    pub source: String,
    /// Integrity problems found without any secret key (bad UUID, wrong DV…).
    pub findings: Vec<Finding>,
    /// `Some` for a document read out of another one's text; `None` for a file's own document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedded: Option<Embedding>,
}

impl Document {
    /// An empty document of the given kind, for readers to fill in.
    pub fn new(kind: DocumentKind, source: impl Into<String>) -> Self {
        Document {
            kind,
            type_code: None,
            uuid: None,
            uuid_scheme: None,
            number: None,
            issue_date: None,
            environment: None,
            supplier_nit: None,
            supplier_name: None,
            customer_nit: None,
            customer_name: None,
            software_provider_nit: None,
            software_id: None,
            payable_amount: None,
            currency: None,
            response_code: None,
            rejections: Vec::new(),
            referenced_uuid: None,
            source: source.into(),
            findings: Vec::new(),
            embedded: None,
        }
    }

    /// A RADIAN or acceptance event (ApplicationResponse with code 030–046), as opposed to a
    /// DIAN validation result (02/04).
    pub fn is_radian_event(&self) -> bool {
        self.kind == DocumentKind::ApplicationResponse
            && matches!(self.response_code.as_deref(),
                Some(code) if code.len() == 3 && code.parse::<u16>().is_ok_and(|n| (30..=46).contains(&n)))
    }
}
