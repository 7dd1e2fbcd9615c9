//! Black-box tests of `mesa_fe::dian` on the DIAN sample files in `tests/fixtures/dian/`: what a
//! support agent reads off each document, the integrity checks, and hostile files.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mesa_fe::dian::{
    Document, DocumentKind, Embedding, Environment, XmlLimits, XmlProblem, cross_check,
    read_documents,
};

// ----------------------------------------------------------------------------------------------
// Allocation counting, so the billion-laughs test can prove nothing was expanded.

/// Counts bytes allocated by the current thread (tests run on parallel threads).
struct CountingAllocator;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// const-initialised thread-local, which does not allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|n| n.set(n.get().saturating_add(layout.size())));
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocated_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATED.with(Cell::get);
    let out = f();
    (out, ALLOCATED.with(Cell::get) - before)
}

// ----------------------------------------------------------------------------------------------
// Helpers

const LCE4821_CUFE: &str = "d96f1533f0df6342ecdf29ead89c6039705250d2a5275e9799dc23df09a363e3fb5dcf4824c516402f73531dcba0d496";
const FER10233_CUFE: &str = "f9e2f3a442129887e8f0d846d77f2b466bd0c7530cbe0ac1a6838f660f063df435737c13acb5d6178251e58b5ad738c3";
const NE8815_CUNE: &str = "6bb6ca5f6cdca05aabfda7fbea6df717f48f9178c0c6c70b1ac323a4f59d44266257de20c0e80aa4637ff34bdf18d068";
const DSAM1207_CUDS: &str = "a28a0ceb95e17c7346f52e41f9fe51bcaea4811edfc181ea0a7b2c45166f673fa3b31db9d9b1b8656c0712dac7ad6626";
const SETT990004517_CUFE: &str = "7899d1f5d1e2f4204fb7b8a8b55b685d2696ecfea29b0ef23370e8a918a2c0ef1e58c6f3a6c103b9f9d05cc2390a3bb7";

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dian").join(name)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn read(name: &str) -> Vec<Document> {
    read_bytes(&fixture(name), name)
}

fn read_bytes(xml: &[u8], name: &str) -> Vec<Document> {
    read_documents(xml, name, &XmlLimits::default()).unwrap_or_else(|p| panic!("{name}: {p}"))
}

fn refuse(xml: &[u8]) -> XmlProblem {
    match read_documents(xml, "hostil.xml", &XmlLimits::default()) {
        Ok(docs) => panic!("hostile input was accepted: {docs:?}"),
        Err(problem) => problem,
    }
}

/// The fields an agent checks first, in one comparable value for readable failures.
#[derive(Debug, PartialEq)]
struct Summary {
    kind: DocumentKind,
    number: Option<String>,
    environment: Option<Environment>,
    supplier_nit: Option<String>,
    response_code: Option<String>,
    rejections: Vec<String>,
}

fn summary(doc: &Document) -> Summary {
    Summary {
        kind: doc.kind,
        number: doc.number.clone(),
        environment: doc.environment,
        supplier_nit: doc.supplier_nit.clone(),
        response_code: doc.response_code.clone(),
        rejections: doc.rejections.iter().map(|r| r.code.clone()).collect(),
    }
}

fn expect(
    kind: DocumentKind,
    number: &str,
    environment: Environment,
    supplier_nit: &str,
    response_code: Option<&str>,
    rejections: &[&str],
) -> Summary {
    Summary {
        kind,
        number: Some(number.to_string()),
        environment: Some(environment),
        supplier_nit: Some(supplier_nit.to_string()),
        response_code: response_code.map(str::to_string),
        rejections: rejections.iter().map(|c| c.to_string()).collect(),
    }
}

fn checks(doc: &Document) -> Vec<&str> {
    doc.findings.iter().map(|f| f.check.as_str()).collect()
}

fn only<'a>(docs: &'a [Document], name: &str) -> &'a Document {
    assert_eq!(docs.len(), 1, "{name} must yield exactly one document: {docs:#?}");
    &docs[0]
}

use DocumentKind as K;
use Environment::{Produccion, Pruebas};

// ----------------------------------------------------------------------------------------------
// AttachedDocument containers

#[test]
fn validated_container_yields_container_invoice_and_dian_response() {
    let docs = read("ad_factura_validada_02.xml");
    let summaries: Vec<Summary> = docs.iter().map(summary).collect();
    assert_eq!(
        summaries,
        [
            expect(K::AttachedDocument, "LCE4821", Produccion, "900481236", None, &[]),
            expect(K::Invoice, "LCE4821", Produccion, "900481236", None, &[]),
            expect(K::ApplicationResponse, "61382017", Produccion, "800197268", Some("02"), &[]),
        ]
    );
    let (container, invoice, dian) = (&docs[0], &docs[1], &docs[2]);

    assert_eq!(container.source, "ad_factura_validada_02.xml");
    assert_eq!(container.embedded, None);
    assert_eq!(container.referenced_uuid.as_deref(), Some(LCE4821_CUFE));
    assert_eq!(container.customer_nit.as_deref(), Some("900917354"));
    assert_eq!(container.supplier_name.as_deref(), Some("Distribuidora La Ceiba S.A.S."));

    assert_eq!(invoice.source, "ad_factura_validada_02.xml#Invoice");
    assert_eq!(invoice.embedded, Some(Embedding::Attachment));
    assert_eq!(invoice.uuid.as_deref(), Some(LCE4821_CUFE));
    assert_eq!(invoice.uuid_scheme.as_deref(), Some("CUFE-SHA384"));
    assert_eq!(invoice.type_code.as_deref(), Some("01"));
    assert_eq!(invoice.issue_date.as_deref(), Some("2026-11-23"));
    assert_eq!(invoice.customer_nit.as_deref(), Some("900917354"));
    assert_eq!(invoice.customer_name.as_deref(), Some("Hotel Mirador del Quindío S.A.S."));
    assert_eq!(invoice.software_provider_nit.as_deref(), Some("901347286"));
    assert_eq!(invoice.software_id.as_deref(), Some("c798d995-d015-4ac2-a34d-98508979cfc0"));
    assert_eq!(invoice.payable_amount.as_deref(), Some("2086140.00"));
    assert_eq!(invoice.currency.as_deref(), Some("COP"));

    assert_eq!(dian.source, "ad_factura_validada_02.xml#ApplicationResponse");
    assert_eq!(dian.embedded, Some(Embedding::DianValidation));
    assert_eq!(dian.referenced_uuid.as_deref(), Some(LCE4821_CUFE));
    assert_eq!(dian.customer_nit.as_deref(), Some("900481236"));
    assert!(!dian.is_radian_event());

    for doc in &docs {
        assert!(doc.findings.is_empty(), "{}: {:?}", doc.source, doc.findings);
    }
}

#[test]
fn rejected_container_carries_dian_rule_lines() {
    let docs = read("ad_factura_rechazada_04.xml");
    let summaries: Vec<Summary> = docs.iter().map(summary).collect();
    assert_eq!(
        summaries,
        [
            expect(K::AttachedDocument, "FER10233", Produccion, "800845127", None, &[]),
            expect(K::Invoice, "FER10233", Produccion, "800845127", None, &[]),
            expect(
                K::ApplicationResponse,
                "61390544",
                Produccion,
                "800197268",
                Some("04"),
                &["FAD06", "FAB27b", "FAB05b"],
            ),
        ]
    );
    let dian = &docs[2];
    assert_eq!(dian.referenced_uuid.as_deref(), Some(FER10233_CUFE));
    assert_eq!(dian.rejections[0].description, "Valor del CUFE no está calculado correctamente.");
    assert!(dian.rejections.iter().all(|r| !r.notification), "04 lines are rejections");
}

#[test]
fn entity_escaped_description_with_bom_reads_like_cdata() {
    let cdata: Vec<Summary> = read("ad_factura_validada_02.xml").iter().map(summary).collect();
    let docs = read("ad_descripcion_escapada.xml");
    let escaped: Vec<Summary> = docs.iter().map(summary).collect();
    assert_eq!(escaped, cdata);
    assert_eq!(docs[1].uuid.as_deref(), Some(LCE4821_CUFE));
    assert!(docs.iter().all(|d| d.findings.is_empty()));
}

#[test]
fn unreadable_inner_document_leaves_the_container_and_a_finding() {
    let xml = String::from_utf8(fixture("ad_factura_validada_02.xml")).expect("UTF-8 sample");
    let broken = xml.replacen("</Invoice>\n]]>", "]]>", 1);
    assert_ne!(broken, xml, "fixture changed: the inner invoice must end with </Invoice>");
    let docs = read_bytes(broken.as_bytes(), "roto.xml");
    let kinds: Vec<DocumentKind> = docs.iter().map(|d| d.kind).collect();
    assert_eq!(kinds, [K::AttachedDocument, K::ApplicationResponse]);
    assert_eq!(checks(&docs[0]), ["embedded_unreadable"]);
    let detail = &docs[0].findings[0].detail;
    assert!(detail.contains("cac:Attachment") && detail.contains("«Invoice»"), "{detail}");
}

// ----------------------------------------------------------------------------------------------
// Standalone documents

#[test]
fn standalone_dian_rejection_is_a_test_environment_response() {
    let docs = read("ar_rechazo_04_independiente.xml");
    let dian = only(&docs, "ar_rechazo_04_independiente.xml");
    assert_eq!(
        summary(dian),
        expect(
            K::ApplicationResponse,
            "50211876",
            Pruebas,
            "800197268",
            Some("04"),
            &["FAB05b", "FAB07b", "FAD06"],
        )
    );
    assert_eq!(dian.referenced_uuid.as_deref(), Some(SETT990004517_CUFE));
    assert_eq!(dian.customer_nit.as_deref(), Some("900238615"));
    assert!(dian.findings.is_empty(), "{:?}", dian.findings);
}

#[test]
fn acceptance_events_are_radian_events_on_the_invoice() {
    for (name, number, code) in [
        ("ar_evento_030.xml", "AR-HMQ-000781", "030"),
        ("ar_evento_031.xml", "RC-HMQ-000112", "031"),
        ("ar_evento_033.xml", "AE-HMQ-000415", "033"),
    ] {
        let docs = read(name);
        let event = only(&docs, name);
        assert_eq!(
            summary(event),
            expect(K::ApplicationResponse, number, Produccion, "900917354", Some(code), &[]),
            "{name}"
        );
        assert!(event.is_radian_event(), "{name}");
        assert_eq!(event.customer_nit.as_deref(), Some("900481236"), "{name}");
        assert_eq!(event.referenced_uuid.as_deref(), Some(LCE4821_CUFE), "{name}");
        assert_eq!(event.software_provider_nit.as_deref(), Some("901552709"), "{name}");
        assert!(event.findings.is_empty(), "{name}: {:?}", event.findings);
    }
}

#[test]
fn payroll_document_reads_attributes() {
    let docs = read("nomina_individual_102.xml");
    let payroll = only(&docs, "nomina_individual_102.xml");
    assert_eq!(
        summary(payroll),
        expect(K::NominaIndividual, "NE8815", Produccion, "900634871", None, &[])
    );
    assert_eq!(payroll.type_code.as_deref(), Some("102"));
    assert_eq!(payroll.uuid.as_deref(), Some(NE8815_CUNE));
    assert_eq!(payroll.uuid_scheme.as_deref(), Some("CUNE-SHA384"));
    assert_eq!(payroll.issue_date.as_deref(), Some("2026-11-03"));
    assert_eq!(payroll.supplier_name.as_deref(), Some("Panadería Santa Clara S.A.S."));
    assert_eq!(payroll.customer_nit.as_deref(), Some("1144087352"));
    assert_eq!(payroll.customer_name.as_deref(), Some("Yeison Mosquera Valencia"));
    assert_eq!(payroll.software_provider_nit.as_deref(), Some("901204519"));
    assert_eq!(payroll.software_id.as_deref(), Some("ddd07a63-5ed1-4e35-a035-c9f640de45f9"));
    assert_eq!(payroll.payable_amount.as_deref(), Some("1859928.00"));
    assert_eq!(payroll.currency.as_deref(), Some("COP"));
    assert!(payroll.findings.is_empty(), "{:?}", payroll.findings);
}

#[test]
fn payroll_adjustment_reads_under_reemplazar_and_points_at_the_original() {
    let docs = read("nomina_ajuste_103_reemplazar.xml");
    let adjustment = only(&docs, "nomina_ajuste_103_reemplazar.xml");
    assert_eq!(
        summary(adjustment),
        expect(K::NominaIndividualAjuste, "NA0392", Produccion, "900634871", None, &[])
    );
    assert_eq!(adjustment.type_code.as_deref(), Some("103"));
    assert_eq!(adjustment.referenced_uuid.as_deref(), Some(NE8815_CUNE));
    assert_eq!(adjustment.payable_amount.as_deref(), Some("2039928.00"));
    assert_eq!(adjustment.customer_nit.as_deref(), Some("1144087352"));
    assert!(adjustment.findings.is_empty(), "{:?}", adjustment.findings);
}

#[test]
fn documento_soporte_and_its_adjustment_note() {
    let docs = read("ds_documento_soporte_05.xml");
    let ds = only(&docs, "ds_documento_soporte_05.xml");
    assert_eq!(
        summary(ds),
        expect(K::DocumentoSoporte, "DSAM1207", Produccion, "17342118", None, &[])
    );
    assert_eq!(ds.type_code.as_deref(), Some("05"));
    assert_eq!(ds.uuid.as_deref(), Some(DSAM1207_CUDS));
    assert_eq!(ds.customer_nit.as_deref(), Some("901378205"));
    assert!(ds.findings.is_empty(), "{:?}", ds.findings);

    let docs = read("ds_nota_ajuste_95.xml");
    let note = only(&docs, "ds_nota_ajuste_95.xml");
    assert_eq!(
        summary(note),
        expect(K::NotaAjusteDocumentoSoporte, "NAAM118", Produccion, "17342118", None, &[])
    );
    assert_eq!(note.referenced_uuid.as_deref(), Some(DSAM1207_CUDS));
    assert_eq!(note.payable_amount.as_deref(), Some("304000.00"));
    assert!(note.findings.is_empty(), "{:?}", note.findings);
}

#[test]
fn fields_come_from_the_root_not_from_nested_groups_that_appear_first() {
    // A provider extension placed before the header repeats ID, UUID, IssueDate, the
    // environment and a supplier block; none of them is the document's own.
    let docs = read("ds_extension_propia.xml");
    let ds = only(&docs, "ds_extension_propia.xml");
    assert_eq!(
        summary(ds),
        expect(K::DocumentoSoporte, "DSAM1207", Produccion, "17342118", None, &[])
    );
    assert_eq!(ds.uuid.as_deref(), Some(DSAM1207_CUDS));
    assert_eq!(ds.uuid_scheme.as_deref(), Some("CUDS-SHA384"));
    assert_eq!(ds.issue_date.as_deref(), Some("2026-11-12"));
    assert!(ds.findings.is_empty(), "{:?}", ds.findings);
}

#[test]
fn dian_sample_invoice_and_its_wrong_legal_entity_dv() {
    let docs = read("stenfrank_invoice_signed_dian_v2.xml");
    let invoice = only(&docs, "stenfrank_invoice_signed_dian_v2.xml");
    assert_eq!(
        summary(invoice),
        expect(K::Invoice, "SETP990000002", Pruebas, "800197268", None, &[])
    );
    assert_eq!(invoice.customer_nit.as_deref(), Some("900108281"));
    assert_eq!(
        invoice.uuid.as_deref(),
        Some(
            "941cf36af62dbbc06f105d2a80e9bfe683a90e84960eae4d351cc3afbe8f848c26c39bac4fbc80fa254824c6369ea694"
        )
    );
    assert_eq!(invoice.payable_amount.as_deref(), Some("14024.07"));
    assert_eq!(invoice.referenced_uuid, None);
    // The DIAN sample writes DV 9 in PartyLegalEntity for 800197268, whose DV is 4.
    assert_eq!(checks(invoice), ["nit_dv"]);
    let detail = &invoice.findings[0].detail;
    assert!(detail.contains("PartyLegalEntity") && detail.contains("es 4"), "{detail}");
}

#[test]
fn dian_sample_credit_and_debit_notes_point_at_their_invoice() {
    let referenced = "e988c01fe2901d1bbf37911758961f7083b6e5c58400552b309549d6fbaa6402c8ff67b51d3c6f4ed478dc94b0c8b0fc";
    let docs = read("stenfrank_creditnote_singned_dian_v2.xml");
    let credit = only(&docs, "credit note");
    assert_eq!(summary(credit), expect(K::CreditNote, "NC3", Pruebas, "800197268", None, &[]));
    assert_eq!(credit.type_code.as_deref(), Some("91"));
    assert_eq!(credit.referenced_uuid.as_deref(), Some(referenced));
    assert_eq!(
        (credit.payable_amount.as_deref(), credit.currency.as_deref()),
        (Some("14994.07"), Some("USD"))
    );
    assert!(credit.findings.is_empty(), "{:?}", credit.findings);

    let docs = read("stenfrank_debitnote_signed_dian_v2.xml");
    let debit = only(&docs, "debit note");
    assert_eq!(summary(debit), expect(K::DebitNote, "ND1", Pruebas, "800197268", None, &[]));
    // The 2019 sample has no DebitNoteTypeCode; the total is in RequestedMonetaryTotal.
    assert_eq!(debit.type_code, None);
    assert_eq!(
        (debit.payable_amount.as_deref(), debit.currency.as_deref()),
        (Some("14994.07"), Some("USD"))
    );
    assert_eq!(debit.referenced_uuid.as_deref(), Some(referenced));
}

// ----------------------------------------------------------------------------------------------
// SOAP replies of DIAN's web service

#[test]
fn soap_reply_with_errors_lists_every_rule_in_order() {
    let docs = read("stenfrank_response_getstatusZip_with_errors.xml");
    let reply = only(&docs, "getstatusZip");
    assert_eq!(reply.kind, K::UnknownXml);
    let codes: Vec<&str> = reply.rejections.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "FAJ26", "FAB27b", "FAD06", "FAJ40", "FAU04", "FAK26", "FAJ27", "FAJ41", "FAJ29",
            "FAJ09", "FAU06", "FAS02", "FAJ28", "FAJ32", "FAJ12", "FAK08", "FAJ08", "FAB34",
            "FAB31", "FAU14", "FAN02",
        ]
    );
    // DIAN wraps long texts over several lines; the rule text is read whole.
    assert_eq!(
        reply.rejections[1].description,
        "Huella no corresponde a un software autorizado para este OFE."
    );
    assert!(reply.rejections.iter().all(|r| !r.notification));
    assert_eq!(
        reply.referenced_uuid.as_deref(),
        Some(
            "840ca7a4606904acb5d979db78257876f7c987261cb499e9b4a4c4fd18864db9a7c54c1b15affb68997550889cffd4f7"
        )
    );
    // Its XmlBase64Bytes is cut in the sample: reported, not fatal.
    assert_eq!(checks(reply), ["embedded_unreadable"]);
    assert!(reply.findings[0].detail.contains("XmlBase64Bytes"));
}

#[test]
fn soap_reply_with_base64_response_yields_the_response_too() {
    let mut docs = read("soap_getstatus_con_ar.xml");
    let kinds: Vec<DocumentKind> = docs.iter().map(|d| d.kind).collect();
    assert_eq!(kinds, [K::UnknownXml, K::ApplicationResponse]);
    let codes: Vec<&str> = docs[0].rejections.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, ["FAB05b", "FAB07b", "FAD06"]);
    assert_eq!(docs[1].source, "soap_getstatus_con_ar.xml#ApplicationResponse");
    assert_eq!(docs[1].embedded, Some(Embedding::SoapPayload));
    assert_eq!(
        summary(&docs[1]),
        expect(
            K::ApplicationResponse,
            "50211876",
            Pruebas,
            "800197268",
            Some("04"),
            &["FAB05b", "FAB07b", "FAD06"],
        )
    );
    cross_check(&mut docs);
    assert!(docs.iter().all(|d| d.findings.is_empty()), "{docs:#?}");
}

#[test]
fn other_soap_replies_are_unknown_xml_without_rules() {
    for name in [
        "stenfrank_response_sendtestasys_with_error.xml",
        "stenfrank_response_sendtestasync_success.xml",
        "stenfrank_response_getnumberingrange_with_erorr.xml",
    ] {
        let docs = read(name);
        let reply = only(&docs, name);
        assert_eq!(reply.kind, K::UnknownXml, "{name}");
        assert!(reply.rejections.is_empty() && reply.findings.is_empty(), "{name}: {reply:?}");
    }
}

// ----------------------------------------------------------------------------------------------
// Cross-checks

const ALL_SAMPLES: [&str; 20] = [
    "ad_factura_rechazada_04.xml",
    "ad_factura_validada_02.xml",
    "ad_descripcion_escapada.xml",
    "ar_evento_030.xml",
    "ar_evento_031.xml",
    "ar_evento_033.xml",
    "ar_rechazo_04_independiente.xml",
    "ds_documento_soporte_05.xml",
    "ds_extension_propia.xml",
    "ds_nota_ajuste_95.xml",
    "nomina_ajuste_103_reemplazar.xml",
    "nomina_individual_102.xml",
    "soap_getstatus_con_ar.xml",
    "stenfrank_creditnote_singned_dian_v2.xml",
    "stenfrank_debitnote_signed_dian_v2.xml",
    "stenfrank_invoice_signed_dian_v2.xml",
    "stenfrank_response_getnumberingrange_with_erorr.xml",
    "stenfrank_response_getstatusZip_with_errors.xml",
    "stenfrank_response_sendtestasync_success.xml",
    "stenfrank_response_sendtestasys_with_error.xml",
];

#[test]
fn samples_read_as_one_message_have_no_cufe_mismatch() {
    let mut docs: Vec<Document> = ALL_SAMPLES.iter().flat_map(|name| read(name)).collect();
    cross_check(&mut docs);
    let mismatches: Vec<&str> = docs
        .iter()
        .filter(|d| d.findings.iter().any(|f| f.check == "cufe_mismatch"))
        .map(|d| d.source.as_str())
        .collect();
    assert!(mismatches.is_empty(), "{mismatches:?}");
}

/// The validated container with one of its three CUFE copies changed.
fn altered_container(which_copy: usize) -> Vec<Document> {
    let xml = String::from_utf8(fixture("ad_factura_validada_02.xml")).expect("UTF-8 sample");
    let forged = "0".repeat(96);
    let mut parts: Vec<&str> = xml.split(LCE4821_CUFE).collect();
    assert_eq!(parts.len(), 5, "QR code + three UUIDs in the sample");
    // Copies in file order: 0 QR code, 1 invoice UUID, 2 line reference, 3 DIAN's reference.
    let mut out = String::new();
    let last = parts.pop().unwrap_or_default();
    for (i, part) in parts.iter().enumerate() {
        out.push_str(part);
        out.push_str(if i == which_copy { &forged } else { LCE4821_CUFE });
    }
    out.push_str(last);
    read_bytes(out.as_bytes(), "alterado.xml")
}

#[test]
fn altered_cufe_in_any_copy_is_a_mismatch_on_the_container() {
    for copy in 1..=3 {
        let mut docs = altered_container(copy);
        cross_check(&mut docs);
        assert_eq!(checks(&docs[0]), ["cufe_mismatch"], "copy {copy}");
        let detail = &docs[0].findings[0].detail;
        assert!(detail.contains("00000000…0000") && detail.contains("d96f1533…d496"), "{detail}");
        assert!(docs[1..].iter().all(|d| !checks(d).contains(&"cufe_mismatch")), "copy {copy}");
    }
}

#[test]
fn cross_check_without_the_change_finds_nothing() {
    let mut docs = read("ad_factura_validada_02.xml");
    cross_check(&mut docs);
    assert!(docs.iter().all(|d| d.findings.is_empty()));
}

// ----------------------------------------------------------------------------------------------
// Hostile and broken files

fn assert_spanish(problem: &XmlProblem) {
    let message = problem.to_string();
    assert!(
        message.contains("Envíe") || message.contains("envíe") || message.contains("Pida"),
        "the message must tell the requester what to do: {message}"
    );
}

#[test]
fn billion_laughs_is_refused_quickly_without_expanding() {
    let xml = fixture("hostile_billion_laughs.xml");
    let started = Instant::now();
    let (result, bytes) =
        allocated_during(|| read_documents(&xml, "lol.xml", &XmlLimits::default()));
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert!(bytes < 64 * 1024, "allocated {bytes} bytes for a {}-byte file", xml.len());
    let problem = result.expect_err("DOCTYPE must be refused");
    assert_eq!(problem, XmlProblem::Doctype);
    assert!(problem.to_string().contains("DOCTYPE"));
    assert_spanish(&problem);
}

#[test]
fn external_entity_is_refused_and_never_read() {
    let problem = refuse(&fixture("hostile_xxe_passwd.xml"));
    assert_eq!(problem, XmlProblem::Doctype);
    assert!(!problem.to_string().contains("root:"), "no file content may leak");
}

#[test]
fn undeclared_namespace_prefix_is_refused_like_dian_does() {
    let problem = refuse(&fixture("hostile_undeclared_prefix_ds.xml"));
    assert_eq!(problem, XmlProblem::UndeclaredPrefix("ds".into()));
    assert!(problem.to_string().contains("Namespace prefix 'ds' is not defined"));
    assert_spanish(&problem);
}

#[test]
fn empty_file_is_refused() {
    let problem = refuse(&fixture("hostile_empty.xml"));
    assert_eq!(problem, XmlProblem::Empty);
    assert_spanish(&problem);
    assert_eq!(refuse(b" \n\t "), XmlProblem::Empty);
    assert_eq!(refuse(b"\xEF\xBB\xBF"), XmlProblem::Empty);
}

#[test]
fn truncated_file_is_refused_as_incomplete() {
    let problem = refuse(&fixture("hostile_truncated.xml"));
    assert!(matches!(problem, XmlProblem::Truncated { .. }), "{problem:?}");
    assert!(problem.to_string().contains("incompleto"));
    assert_spanish(&problem);
    // Cut between elements rather than inside one: still incomplete, naming the open element.
    let problem = refuse(b"<Invoice xmlns:cbc=\"c\"><cbc:ID>1</cbc:ID>");
    assert_eq!(problem, XmlProblem::Truncated { open: Some("Invoice".into()) });
}

#[test]
fn random_binary_is_refused() {
    let problem = refuse(&fixture("hostile_random_binary.bin"));
    assert!(matches!(problem, XmlProblem::NotUtf8 { .. }), "{problem:?}");
    assert_spanish(&problem);
}

#[test]
fn deep_nesting_is_refused_at_the_limit() {
    let levels = 100_000;
    let xml = format!("{}{}", "<a>".repeat(levels), "</a>".repeat(levels));
    let started = Instant::now();
    let problem = refuse(xml.as_bytes());
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(problem, XmlProblem::TooDeep { max: XmlLimits::default().max_depth });
    assert_spanish(&problem);
}

#[test]
fn file_over_the_size_limit_is_refused_before_reading() {
    let xml = fixture("ad_factura_validada_02.xml");
    let limits = XmlLimits { max_bytes: 10_000, ..XmlLimits::default() };
    let problem = read_documents(&xml, "grande.xml", &limits).expect_err("over the limit");
    assert_eq!(problem, XmlProblem::TooLarge { size: xml.len(), max: 10_000 });
    assert_spanish(&problem);
}

#[test]
fn no_prefix_of_a_sample_and_no_corrupted_copy_makes_the_reader_panic() {
    let xml = fixture("ad_factura_rechazada_04.xml");
    for cut in (0..xml.len()).step_by(101) {
        let _ = read_documents(&xml[..cut], "corte.xml", &XmlLimits::default());
    }
    // Deterministic byte flips (xorshift), so a failure reproduces.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..300 {
        let mut copy = xml.clone();
        for _ in 0..8 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = usize::try_from(state % xml.len() as u64).unwrap_or(0);
            copy[at] = (state >> 32) as u8;
        }
        let _ = read_documents(&copy, "volteado.xml", &XmlLimits::default());
    }
}
