//! Black-box tests of `mesa_fe::mail::parse` over the fixture e-mails and over hostile messages
//! built here (ZIPs made with the zip crate's `ZipWriter`, then patched where a header must lie).
//!
//! Fixtures: `tests/fixtures/mail/01…16` are the shared samples (with `EXPECTED.json`);
//! `20…28` were written for these tests (HTML only, Windows-1252, forwarded message/rfc822,
//! octet-stream XML, empty and damaged attachments, and three things that are not e-mails);
//! `40…` carry 8-bit Latin-1 that declares no charset (body, Subject, From name).

use std::io::{Cursor, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mesa_fe::mail::{AttachmentLimits, Inbound, parse};
use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mail")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = fixture_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse_ok(raw: &[u8]) -> Inbound {
    parse(raw, &AttachmentLimits::default()).unwrap_or_else(|e| panic!("refused: {e}"))
}

fn parse_fixture(name: &str) -> Inbound {
    parse_ok(&fixture(name))
}

fn sources(inbound: &Inbound) -> Vec<&str> {
    inbound.files.iter().map(|f| f.source.as_str()).collect()
}

/// The problem recorded for `source`, or a panic listing what was recorded.
fn problem_for<'a>(inbound: &'a Inbound, source: &str) -> &'a str {
    let found = inbound.problems.iter().find(|p| p.source == source);
    found
        .map(|p| p.problem.as_str())
        .unwrap_or_else(|| panic!("no problem for {source}; problems: {:#?}", inbound.problems))
}

const UNREADABLE_FIXTURES: [&str; 3] =
    ["25_texto_sin_cabeceras.eml", "26_basura_binaria.eml", "27_sin_remitente.eml"];

// ------------------------------------------------------------------------------------------
// Every fixture

#[test]
fn every_fixture_is_read_or_refused_as_expected() {
    let mut seen = 0;
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".eml") {
            continue;
        }
        seen += 1;
        let result = parse(&std::fs::read(&path).unwrap(), &AttachmentLimits::default());
        let expect_refused = UNREADABLE_FIXTURES.contains(&name.as_str());
        assert_eq!(result.is_err(), expect_refused, "{name}: {result:?}");
        if let Ok(inbound) = result {
            assert!(inbound.from.contains('@'), "{name}");
            assert!(!inbound.body_text.is_empty(), "{name}: no readable text");
        }
    }
    assert!(seen >= 25, "fixtures missing: only {seen}");
}

#[test]
fn from_and_subject_match_expected_json() {
    let expected: serde_json::Value =
        serde_json::from_slice(&fixture("EXPECTED.json")).expect("EXPECTED.json");
    let cases = expected.as_object().expect("an object keyed by file name");
    assert_eq!(cases.len(), 16);
    for (name, case) in cases {
        let inbound = parse_fixture(name);
        assert_eq!(Some(inbound.from.as_str()), case["from"].as_str(), "{name}");
        if let Some(subject) = case["subject"].as_str() {
            assert_eq!(inbound.subject, subject, "{name}");
        }
    }
}

// ------------------------------------------------------------------------------------------
// Shared samples, field by field

#[test]
fn from_is_lower_cased_and_name_decoded() {
    let inbound = parse_fixture("02_contribuyente_texto_sin_requisitos.eml");
    assert_eq!(inbound.from, "rosa.cardenas.contable@correo.example");
    assert_eq!(inbound.from_name.as_deref(), Some("Rosa Elvira Cárdenas"));
    assert_eq!(inbound.recipients, ["sd_facturaelectronica@dian.gov.co"]);
    assert_eq!(inbound.message_id.as_deref(), Some("CAF3k9+pQe2026.rosa@correo.example"));
    let date = inbound.date.expect("date");
    assert_eq!(date.to_rfc3339(), "2026-11-26T19:48:31+00:00");
}

#[test]
fn rfc2047_subjects_are_decoded() {
    let inbound = parse_fixture("07_asunto_rfc2047_documento_soporte.eml");
    assert_eq!(
        inbound.subject,
        "Documento soporte: ¿cómo corregir una adquisición con nota de ajuste?"
    );
    let inbound = parse_fixture("04_respuesta_automatica.eml");
    assert_eq!(
        inbound.subject,
        "Respuesta automática: [FE-2026-000042] Factura rechazada por la DIAN"
    );
}

#[test]
fn outlook_reply_threading_and_own_words() {
    let inbound = parse_fixture("03_respuesta_outlook_FE-2026-000042.eml");
    assert_eq!(
        inbound.message_id.as_deref(),
        Some("SN6PR04MB4301E3C7A2B0F11D8C2FB9A0D51A2@SN6PR04MB4301.namprd04.prod.outlook.example")
    );
    assert_eq!(inbound.in_reply_to, ["FE-2026-000042.3.outbox@mesa-fe.dian.gov.co"]);
    assert_eq!(
        inbound.references,
        [
            "FE-2026-000042.1.inbound@ferroble.example",
            "FE-2026-000042.3.outbox@mesa-fe.dian.gov.co"
        ]
    );
    assert!(inbound.own_words.contains("Adjunto el XML"), "{}", inbound.own_words);
    assert!(!inbound.own_words.contains("Para atender su solicitud"));
    assert!(!inbound.own_words.contains("De: Mesa"));
    assert!(!inbound.own_words.contains("________"));
    // The quoted history is still part of the whole text.
    assert!(inbound.body_text.contains("Para atender su solicitud"));
    assert_eq!(sources(&inbound), ["ad08008451270002600010233.zip/ad08008451270002600010233.xml"]);
}

#[test]
fn auto_reply_headers() {
    let inbound = parse_fixture("04_respuesta_automatica.eml");
    assert_eq!(inbound.auto.auto_submitted.as_deref(), Some("auto-replied"));
    assert!(!inbound.auto.multipart_report);
    assert!(!inbound.auto.null_return_path);
}

#[test]
fn bounce_headers() {
    let inbound = parse_fixture("05_rebote_dsn.eml");
    assert_eq!(inbound.from, "mailer-daemon@mx2.correo.example");
    assert!(inbound.auto.multipart_report);
    assert!(inbound.auto.null_return_path);
    assert_eq!(inbound.auto.auto_submitted.as_deref(), Some("auto-replied"));
    assert!(inbound.files.is_empty(), "delivery-status parts are not files");
}

#[test]
fn a_person_has_no_auto_headers() {
    let inbound = parse_fixture("01_proveedor_zip_attacheddocument.eml");
    assert_eq!(inbound.auto, Default::default());
}

#[test]
fn iso_8859_1_quoted_printable_body() {
    let inbound = parse_fixture("06_iso8859_qp_nota_credito.eml");
    let body = &inbound.body_text;
    for word in ["Buenos días", "orientación", "nota crédito", "acordó después", "atención"] {
        assert!(body.contains(word), "missing {word:?} in {body}");
    }
    assert!(body.contains("3894fdad8e096d8e940c1535bbf654d409ab3d883cdf906bdec569890d0b35e2"));
    assert!(!body.contains('\u{fffd}') && !body.contains("=\n") && !body.contains('\r'));
}

#[test]
fn zip_is_replaced_by_its_entries() {
    let inbound = parse_fixture("01_proveedor_zip_attacheddocument.eml");
    assert!(inbound.problems.is_empty(), "{:?}", inbound.problems);
    assert_eq!(
        sources(&inbound),
        [
            "z09004812360002600004821.zip/ad09004812360002600004821.xml",
            "z09004812360002600004821.zip/PDF-LCE4821.pdf"
        ]
    );
    let (xml, pdf) = (&inbound.files[0], &inbound.files[1]);
    assert!(xml.is_xml() && !xml.is_evidence());
    assert!(String::from_utf8_lossy(&xml.bytes).contains("AttachedDocument"));
    assert_eq!(xml.bytes.len(), 28963);
    assert!(pdf.is_evidence() && pdf.bytes.starts_with(b"%PDF"));
}

#[test]
fn text_xml_parts_keep_their_original_bytes() {
    let inbound = parse_fixture("07_asunto_rfc2047_documento_soporte.eml");
    assert_eq!(sources(&inbound), ["ds_DSAM1207.xml", "na_NAAM118.xml"]);
    // Sizes declared in Content-Disposition: the bytes are exactly what was attached.
    let sizes: Vec<usize> = inbound.files.iter().map(|f| f.bytes.len()).collect();
    assert_eq!(sizes, [13329, 12542]);
    for file in &inbound.files {
        assert_eq!(file.content_type, "text/xml");
        assert!(file.is_xml() && file.bytes.starts_with(b"<?xml"));
    }
}

#[test]
fn screenshot_is_evidence() {
    let inbound = parse_fixture("11_facturador_gratuito_pantallazo.eml");
    assert_eq!(inbound.files.len(), 1);
    let png = &inbound.files[0];
    assert_eq!(png.source, "pantallazo_emitir.png");
    assert_eq!(png.content_type, "image/png");
    assert!(png.is_evidence() && png.bytes.starts_with(b"\x89PNG"));
}

#[test]
fn zip_bomb_is_refused_quickly_naming_the_limit() {
    let raw = fixture("13_zip_bomba.eml");
    let started = Instant::now();
    let inbound = parse_ok(&raw);
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert!(inbound.files.is_empty(), "{:?}", sources(&inbound));
    let problem = problem_for(&inbound, "soportes_noviembre.zip/soportes_noviembre.xml");
    assert!(problem.contains("límite") && problem.contains("100:1"), "{problem}");
    assert!(inbound.own_words.contains("adjunto los soportes"));
}

#[test]
fn broken_mime_is_read_with_problems() {
    let inbound = parse_fixture("14_mime_malformado.eml");
    assert!(inbound.body_text.contains("Buenas tardes, adjunto el documento"));
    assert!(!inbound.body_text.contains("QnVlbmFz"), "raw base64 leaked: {}", inbound.body_text);
    assert!(problem_for(&inbound, "estructura MIME").contains("separador"));
    assert!(problem_for(&inbound, "documento.zip").contains("dañado"));
    assert!(inbound.files.is_empty());
}

// ------------------------------------------------------------------------------------------
// Fixtures written for these tests

#[test]
fn html_only_message_becomes_text() {
    let inbound = parse_fixture("20_solo_html_outlook.eml");
    let body = &inbound.body_text;
    assert!(body.contains("Ya enviamos la factura LC-77 con el CUFE corregido & la nota crédito"));
    assert!(body.contains("De: Mesa de Servicio"), "{body}");
    for markup in ["<div", "<b>", "&amp;", "&eacute;", "color: red", "</"] {
        assert!(!body.contains(markup), "{markup:?} left in {body}");
    }
    assert!(inbound.own_words.contains("Ya enviamos"));
    assert!(!inbound.own_words.contains("Para atender"), "{}", inbound.own_words);
}

#[test]
fn envelope_details_of_the_html_reply() {
    let inbound = parse_fixture("20_solo_html_outlook.eml");
    assert_eq!(inbound.from, "tesoreria@lacosta.example");
    assert_eq!(inbound.reply_to.as_deref(), Some("pagos@lacosta.example"));
    assert_eq!(
        inbound.recipients,
        ["sd_facturaelectronica@dian.gov.co", "contador@lacosta.example"],
        "To and Cc, lower-cased, without repeats"
    );
    assert_eq!(inbound.in_reply_to, ["FE-2026-000051.2.outbox@mesa-fe.dian.gov.co"]);
    assert_eq!(inbound.authentication_results.len(), 1);
    assert!(inbound.authentication_results[0].contains("dkim=pass header.d=lacosta.example"));
}

#[test]
fn windows_1252_body_and_subject() {
    let inbound = parse_fixture("21_windows1252.eml");
    assert_eq!(inbound.subject, "Facturación “urgente”");
    for word in ["Buenos días", "150.000 €", "“rechazada”", "catálogo", "¿qué hacemos?"] {
        assert!(inbound.body_text.contains(word), "missing {word:?}: {}", inbound.body_text);
    }
}

#[test]
fn forwarded_message_brings_its_text_and_xml() {
    let inbound = parse_fixture("22_reenvio_rfc822_con_xml.eml");
    assert_eq!(sources(&inbound), ["reenviado/ad_FER10233.xml"]);
    let xml = &inbound.files[0];
    assert!(xml.is_xml());
    assert!(String::from_utf8(xml.bytes.clone()).unwrap().contains("Factura electrónica"));
    assert!(inbound.body_text.contains("Mensaje reenviado"));
    assert!(inbound.body_text.contains("regla FAD06"));
    // Nothing written above the forward: the forward is the request.
    assert!(inbound.own_words.starts_with("La DIAN rechazó la factura FER10233"));
}

#[test]
fn octet_stream_named_xml_is_a_file_and_docx_is_ignored() {
    let inbound = parse_fixture("23_octet_stream_factura_xml.eml");
    assert_eq!(sources(&inbound), ["factura.xml"]);
    assert_eq!(inbound.files[0].content_type, "application/octet-stream");
    assert!(inbound.files[0].is_xml());
    assert!(inbound.files[0].bytes.starts_with(b"<?xml"));
    assert!(inbound.problems.is_empty());
}

#[test]
fn empty_and_damaged_attachments_are_problems() {
    let inbound = parse_fixture("24_adjunto_vacio_y_base64_danado.eml");
    assert!(inbound.files.is_empty(), "{:?}", sources(&inbound));
    assert!(problem_for(&inbound, "factura.pdf").contains("0 bytes"));
    let damaged = problem_for(&inbound, "pantallazo.png");
    assert!(damaged.contains("dañado") && damaged.contains("de nuevo"));
    assert_eq!(inbound.own_words, "Envío la factura y el pantallazo.");
}

#[test]
fn text_without_headers_is_unreadable() {
    let err = parse(&fixture("25_texto_sin_cabeceras.eml"), &AttachmentLimits::default());
    assert!(err.unwrap_err().reason.contains("cabecera"));
}

#[test]
fn binary_garbage_is_unreadable() {
    let err = parse(&fixture("26_basura_binaria.eml"), &AttachmentLimits::default());
    assert!(err.unwrap_err().reason.contains("binarios"));
}

#[test]
fn no_sender_is_unreadable() {
    let err = parse(&fixture("27_sin_remitente.eml"), &AttachmentLimits::default());
    assert!(err.unwrap_err().reason.contains("remitente"));
}

#[test]
fn empty_input_is_unreadable() {
    for raw in [&b""[..], b"\r\n\r\n", b"\0\0\0\0"] {
        assert!(parse(raw, &AttachmentLimits::default()).is_err(), "{raw:?}");
    }
}

#[test]
fn sender_fallback_and_list_headers() {
    let inbound = parse_fixture("28_solo_sender.eml");
    assert_eq!(inbound.from, "boletin@lista.example");
    assert_eq!(inbound.from_name.as_deref(), Some("Boletín Lista"));
    assert_eq!(inbound.auto.auto_submitted.as_deref(), Some("auto-generated"));
    assert_eq!(inbound.auto.precedence.as_deref(), Some("bulk"));
    assert!(inbound.auto.list_id && inbound.auto.x_auto_response_suppress);
    assert!(!inbound.auto.x_autoreply && !inbound.auto.x_autorespond);
}

#[test]
fn return_path_is_the_last_resort_sender() {
    let raw = b"Return-Path: <Rebotes@Lista.example>\r\nFrom: Nadie\r\nX-Autoreply: yes\r\n\
                X-Autorespond: yes\r\nSubject: x\r\n\r\nhola\r\n";
    let inbound = parse_ok(raw);
    assert_eq!(inbound.from, "rebotes@lista.example");
    assert!(inbound.auto.x_autoreply && inbound.auto.x_autorespond);
}

#[test]
fn null_return_path_alone_is_no_sender() {
    let raw = b"Return-Path: <>\r\nSubject: x\r\n\r\nhola\r\n";
    assert!(parse(raw, &AttachmentLimits::default()).is_err());
}

// ------------------------------------------------------------------------------------------
// 8-bit Latin-1 without a declared charset

const REPLACEMENT: char = '\u{fffd}';

#[test]
fn latin1_body_without_charset_is_read_as_windows_1252() {
    let inbound = parse_fixture("40_latin1_sin_charset.eml");
    let body = &inbound.body_text;
    assert!(body.contains("habilitación"), "{body}");
    for word in ["Buenos días", "electrónico", "¿Qué debemos revisar?", "María Peña"] {
        assert!(body.contains(word), "missing {word:?} in {body}");
    }
    assert!(!body.contains(REPLACEMENT), "{body}");
    assert!(inbound.own_words.contains("habilitación"), "{}", inbound.own_words);
}

#[test]
fn raw_8bit_subject_and_from_name_are_read_as_windows_1252() {
    let inbound = parse_fixture("41_asunto_8bit.eml");
    assert_eq!(inbound.subject, "Habilitación como facturador electrónico");
    assert!(inbound.subject.contains("Habilitación"));
    assert_eq!(inbound.from, "gerencia@panaderia-elsol.example");
    assert_eq!(inbound.from_name.as_deref(), Some("José Muñoz"));
    // No Content-Type at all: text/plain without a charset.
    assert!(inbound.body_text.contains("¿cómo termino la habilitación?"), "{}", inbound.body_text);
    assert!(!inbound.body_text.contains(REPLACEMENT));
}

/// A multipart/mixed message whose parts are `(headers, body)` as written.
fn multipart(subject: &[u8], parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut raw = b"From: a@b.example\r\nSubject: ".to_vec();
    raw.extend_from_slice(subject);
    raw.extend_from_slice(
        b"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n",
    );
    for (headers, body) in parts {
        raw.extend_from_slice(format!("--b\r\n{headers}\r\n\r\n").as_bytes());
        raw.extend_from_slice(body);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"--b--\r\n");
    raw
}

#[test]
fn latin1_without_charset_in_quoted_printable_base64_and_html() {
    for (headers, body) in [
        (
            "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable",
            &b"habilitaci=F3n"[..],
        ),
        ("Content-Type: text/plain\r\nContent-Transfer-Encoding: base64", b"aGFiaWxpdGFjafNu"),
        ("Content-Type: text/html\r\nContent-Transfer-Encoding: 8bit", b"<p>habilitaci\xf3n</p>"),
    ] {
        let inbound = parse_ok(&multipart(b"x", &[(headers, body)]));
        assert_eq!(inbound.body_text, "habilitación", "{headers}");
    }
}

#[test]
fn utf8_without_charset_is_left_as_it_is() {
    let raw = multipart(
        "Habilitación ✓".as_bytes(),
        &[("Content-Type: text/plain", "habilitación ✓ €".as_bytes())],
    );
    let inbound = parse_ok(&raw);
    assert_eq!(inbound.subject, "Habilitación ✓");
    assert_eq!(inbound.body_text, "habilitación ✓ €");
}

#[test]
fn utf8_text_with_a_stray_latin1_line_keeps_both() {
    let raw = multipart(b"x", &[("Content-Type: text/plain", b"habilitaci\xc3\xb3n\r\nJos\xe9")]);
    assert_eq!(parse_ok(&raw).body_text, "habilitación\nJosé");
}

#[test]
fn a_declared_charset_is_still_honoured() {
    // 0xA4 is "€" in ISO-8859-15 and "¤" in Windows-1252.
    let raw = multipart(
        b"x",
        &[("Content-Type: text/plain; charset=iso-8859-15", b"habilitaci\xf3n 10 \xa4")],
    );
    assert_eq!(parse_ok(&raw).body_text, "habilitación 10 €");
    // A wrong declaration is not second-guessed: declared UTF-8 stays UTF-8.
    let raw = multipart(b"x", &[("Content-Type: text/plain; charset=utf-8", b"habilitaci\xf3n")]);
    assert_eq!(parse_ok(&raw).body_text, "habilitaci\u{fffd}n");
}

#[test]
fn rfc2047_subject_is_decoded_by_its_own_charset() {
    let raw =
        multipart(b"=?iso-8859-15?q?Habilitaci=F3n_=A4?=", &[("Content-Type: text/plain", b"x")]);
    assert_eq!(parse_ok(&raw).subject, "Habilitación €");
}

#[test]
fn forwarded_message_with_8bit_headers_and_body() {
    let mut raw = b"From: a@b.example\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n\
        Content-Type: message/rfc822\r\n\r\n"
        .to_vec();
    raw.extend_from_slice(
        b"From: Jos\xe9 Mu\xf1oz <jose@c.example>\r\nSubject: Habilitaci\xf3n\r\n\r\n\
          \xbfY la habilitaci\xf3n?\r\n",
    );
    let body = parse_ok(&raw).body_text;
    for line in ["De: José Muñoz <jose@c.example>", "Asunto: Habilitación", "¿Y la habilitación?"]
    {
        assert!(body.contains(line), "missing {line:?} in {body}");
    }
}

// ------------------------------------------------------------------------------------------
// Hostile messages built here

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, data) in entries {
        writer.start_file(*name, options).unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// A multipart/mixed e-mail with a short text and each `(name, type, bytes)` in base64.
fn mail_with(attachments: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut raw = String::from(
        "From: Prueba <prueba@hostil.example>\r\nTo: sd_facturaelectronica@dian.gov.co\r\n\
         Subject: Adjuntos\r\nMessage-ID: <hostil@hostil.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nVan los adjuntos.\r\n",
    );
    for (name, content_type, bytes) in attachments {
        raw.push_str(&format!(
            "--b\r\nContent-Type: {content_type}; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64(bytes)
        ));
    }
    raw.push_str("--b--\r\n");
    raw.into_bytes()
}

/// Plain base64 in 76-column lines (the test has no base64 crate; this is small enough).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            let symbol =
                if i <= chunk.len() { ALPHABET[(n >> (18 - 6 * i) & 63) as usize] } else { b'=' };
            out.push(char::from(symbol));
        }
    }
    out.as_bytes()
        .chunks(76)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Rewrites a little-endian u16 at `offset` of every local (PK\3\4) and central (PK\1\2) header.
fn patch_headers(
    zip: &mut [u8],
    local_offset: usize,
    central_offset: usize,
    f: impl Fn(u16) -> u16,
) {
    for start in 0..zip.len().saturating_sub(4) {
        let at = match &zip[start..start + 4] {
            b"PK\x03\x04" => start + local_offset,
            b"PK\x01\x02" => start + central_offset,
            _ => continue,
        };
        let value = u16::from_le_bytes([zip[at], zip[at + 1]]);
        zip[at..at + 2].copy_from_slice(&f(value).to_le_bytes());
    }
}

#[test]
fn corrupt_zip_is_a_problem() {
    let raw = mail_with(&[("roto.zip", "application/zip", b"PK\x03\x04 esto no es un zip")]);
    let inbound = parse_ok(&raw);
    assert!(inbound.files.is_empty());
    assert!(problem_for(&inbound, "roto.zip").contains("dañado"));
}

#[test]
fn zip_inside_zip_is_unpacked() {
    let inner = zip_of(&[("ad1.xml", b"<AttachedDocument/>")]);
    let outer = zip_of(&[("interno.zip", &inner), ("rg.pdf", b"%PDF-1.4")]);
    let inbound = parse_ok(&mail_with(&[("externo.zip", "application/x-zip-compressed", &outer)]));
    assert_eq!(sources(&inbound), ["externo.zip/interno.zip/ad1.xml", "externo.zip/rg.pdf"]);
    assert_eq!(inbound.files[0].bytes, b"<AttachedDocument/>");
}

#[test]
fn path_traversal_entry_is_refused_and_siblings_kept() {
    let zip = zip_of(&[("../evil.xml", b"<evil/>"), ("bueno.xml", b"<ok/>")]);
    let inbound = parse_ok(&mail_with(&[("x.zip", "application/octet-stream", &zip)]));
    assert_eq!(sources(&inbound), ["x.zip/bueno.xml"]);
    assert!(problem_for(&inbound, "x.zip/../evil.xml").contains("inseguro"));
}

#[test]
fn too_many_entries_hits_the_count_cap() {
    let names: Vec<String> = (0..500).map(|i| format!("f{i:03}.xml")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"<a/>"[..])).collect();
    let inbound = parse_ok(&mail_with(&[("muchos.zip", "application/zip", &zip_of(&entries))]));
    assert!(inbound.files.is_empty());
    let problem = problem_for(&inbound, "muchos.zip");
    assert!(problem.contains("500 archivos") && problem.contains("límite de 200"), "{problem}");
}

#[test]
fn encrypted_entry_is_refused() {
    let mut zip = zip_of(&[("secreto.xml", b"<x/>")]);
    patch_headers(&mut zip, 6, 8, |flags| flags | 1);
    let inbound = parse_ok(&mail_with(&[("c.zip", "application/zip", &zip)]));
    assert!(inbound.files.is_empty());
    assert!(problem_for(&inbound, "c.zip/secreto.xml").contains("contraseña"));
}

#[test]
fn unsupported_compression_method_is_refused() {
    let mut zip = zip_of(&[("bz.xml", b"<x/>")]);
    patch_headers(&mut zip, 8, 10, |_| 12); // bzip2, not compiled in
    let inbound = parse_ok(&mail_with(&[("m.zip", "application/zip", &zip)]));
    assert!(inbound.files.is_empty());
    assert!(problem_for(&inbound, "m.zip/bz.xml").contains("no soportado"));
}

#[test]
fn forged_small_declared_size_does_not_let_a_bomb_through() {
    let zeros = vec![0u8; 8 * 1024 * 1024];
    let mut zip = zip_of(&[("mentira.xml", &zeros)]);
    // Declared uncompressed size: low 16 bits of the 32-bit field → 100, high bits → 0.
    patch_headers(&mut zip, 22, 24, |_| 100);
    patch_headers(&mut zip, 24, 26, |_| 0);
    let inbound = parse_ok(&mail_with(&[("f.zip", "application/zip", &zip)]));
    assert!(inbound.files.iter().all(|f| f.bytes.len() <= 1024 * 1024), "{:?}", sources(&inbound));
    // zip 9 itself stops at the declared size and reports an error; either way it is refused.
    assert!(problem_for(&inbound, "f.zip/mentira.xml").contains("no se pudo leer"));
}

#[test]
fn total_budget_is_shared_by_all_zips_of_a_message() {
    let limits = AttachmentLimits { zip_max_uncompressed_bytes: 10_000, ..Default::default() };
    let doc = vec![b'x'; 6_000];
    let zip = zip_of(&[("doc.xml", &doc)]);
    let raw =
        mail_with(&[("uno.zip", "application/zip", &zip), ("dos.zip", "application/zip", &zip)]);
    let inbound = parse(&raw, &limits).unwrap();
    assert_eq!(sources(&inbound), ["uno.zip/doc.xml"]);
    assert!(problem_for(&inbound, "dos.zip/doc.xml").contains("límite de 9 KB"));
}

#[test]
fn truncated_message_notes_the_unclosed_structure() {
    let mut raw = mail_with(&[("a.xml", "text/xml", b"<a/>")]);
    raw.truncate(raw.len() - "--b--\r\n".len());
    let inbound = parse_ok(&raw);
    assert!(problem_for(&inbound, "estructura MIME").contains("incompleto"));
    assert_eq!(inbound.own_words, "Van los adjuntos.");
}

#[test]
fn declared_boundary_missing_without_parts_keeps_the_text() {
    let raw = b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=\"nunca\"\r\n\r\n\
                Texto suelto sin partes.\r\n";
    let inbound = parse_ok(raw);
    assert_eq!(inbound.body_text, "Texto suelto sin partes.");
    assert!(problem_for(&inbound, "estructura MIME").contains("separador"));
}

#[test]
fn deeply_nested_forwards_stop_at_the_limit() {
    let mut raw = String::from("From: fondo@x.example\r\nSubject: fondo\r\n\r\nel fondo\r\n");
    for level in 0..40 {
        raw = format!(
            "From: nivel{level}@x.example\r\nSubject: nivel {level}\r\nMIME-Version: 1.0\r\n\
             Content-Type: message/rfc822\r\n\r\n{raw}"
        );
    }
    let inbound = parse_ok(raw.as_bytes());
    assert_eq!(inbound.from, "nivel39@x.example");
    let deepest = format!("{}parte-1", "reenviado/".repeat(8));
    assert!(problem_for(&inbound, &deepest).contains("8 niveles"));
    assert!(inbound.body_text.contains("Asunto: nivel 38"));
}

/// A `text/xml` part in Latin-1: mail-parser would hand it over converted to UTF-8; the file
/// must keep the bytes the sender attached (its `encoding=` declaration says ISO-8859-1).
#[test]
fn latin1_text_xml_keeps_its_bytes_in_8bit_and_quoted_printable() {
    let xml: &[u8] = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>Facturaci\xf3n</a>";
    let mut raw = b"From: a@b.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
        Content-Type: text/plain\r\n\r\nhola\r\n--b\r\n\
        Content-Type: text/xml; charset=iso-8859-1; name=\"ocho.xml\"\r\n\
        Content-Transfer-Encoding: 8bit\r\n\r\n"
        .to_vec();
    raw.extend_from_slice(xml);
    raw.extend_from_slice(
        b"\r\n--b\r\nContent-Type: text/xml; charset=iso-8859-1; name=\"qp.xml\"\r\n\
          Content-Transfer-Encoding: quoted-printable\r\n\r\n\
          <?xml version=3D\"1.0\" encoding=3D\"ISO-8859-1\"?><a>Facturaci=F3n</a>\r\n--b--\r\n",
    );
    let inbound = parse_ok(&raw);
    assert_eq!(sources(&inbound), ["ocho.xml", "qp.xml"]);
    for file in &inbound.files {
        assert_eq!(file.bytes, xml, "{}: {:?}", file.source, String::from_utf8_lossy(&file.bytes));
    }
}

#[test]
fn inline_images_of_an_html_body_are_files() {
    let raw = format!(
        "From: a@b.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/related; boundary=\"r\"\r\n\r\n--r\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n<p>Mire el error:</p><img src=\"cid:img1\">\r\n\
         --r\r\nContent-Type: image/png\r\nContent-ID: <img1>\r\nContent-Disposition: inline\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--r--\r\n",
        base64(&[b"\x89PNG\r\n\x1a\n".as_slice(), &[7u8; 40 * 1024]].concat())
    );
    let inbound = parse_ok(raw.as_bytes());
    assert_eq!(inbound.body_text, "Mire el error:");
    assert_eq!(sources(&inbound), ["parte-1"]);
    let screenshot = &inbound.files[0];
    assert!(screenshot.inline, "Content-Disposition: inline");
    assert!(
        screenshot.is_evidence() && screenshot.bytes.starts_with(b"\x89PNG"),
        "a pasted screenshot is evidence"
    );
}

/// A `text/xml` file inside a forward that is not transfer-encoded: mail-parser counts that
/// forward's offsets from the start of the outer message, yet hands over only the forward's
/// own bytes. The file must still be exactly the bytes attached, wherever it sits.
#[test]
fn text_xml_inside_an_unencoded_forward_keeps_its_bytes() {
    let xml: &[u8] = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>Facturaci\xf3n</a>";
    let mut inner = b"From: b@c.example\r\nSubject: Habilitaci\xf3n\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"in\"\r\n\r\n--in\r\n\
        Content-Type: text/plain\r\n\r\nVa la factura.\r\n--in\r\n\
        Content-Type: text/xml; charset=iso-8859-1; name=\"f.xml\"\r\n\r\n"
        .to_vec();
    inner.extend_from_slice(xml);
    inner.extend_from_slice(b"\r\n--in\r\nContent-Type: text/plain\r\n\r\n");
    inner.extend_from_slice("relleno ".repeat(200).as_bytes());
    inner.extend_from_slice(b"\r\n--in--\r\n");
    let mut raw = b"From: a@b.example\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"out\"\r\n\r\n--out\r\n\
        Content-Type: text/plain\r\n\r\nReenv\xedo.\r\n--out\r\nContent-Type: message/rfc822\r\n\r\n"
        .to_vec();
    raw.extend_from_slice(&inner);
    raw.extend_from_slice(b"\r\n--out--\r\n");
    let inbound = parse_ok(&raw);
    assert_eq!(sources(&inbound), ["reenviado/f.xml"]);
    assert_eq!(
        inbound.files[0].bytes,
        xml,
        "{:?}",
        String::from_utf8_lossy(&inbound.files[0].bytes)
    );
    assert!(inbound.body_text.starts_with("Reenvío."), "{}", inbound.body_text);
    assert!(inbound.body_text.contains("Asunto: Habilitación"), "{}", inbound.body_text);
    // The same forward inside a base64 forward: offsets count from the decoded bytes.
    let outer = format!(
        "From: c@d.example\r\nSubject: Fwd2\r\nMIME-Version: 1.0\r\n\
         Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64(&raw)
    );
    let inbound = parse_ok(outer.as_bytes());
    assert_eq!(sources(&inbound), ["reenviado/reenviado/f.xml"]);
    assert_eq!(inbound.files[0].bytes, xml);
}

/// mail-parser parses base64-encoded forwards only 3 levels deep and hands back the rest as
/// damaged bytes: that must be reported, not silently lost.
#[test]
fn encoded_forwards_too_deep_for_mail_parser_are_reported() {
    let mut raw = String::from("From: fondo@x.example\r\nSubject: fondo\r\n\r\nel fondo\r\n");
    for level in 0..5 {
        raw = format!(
            "From: nivel{level}@x.example\r\nSubject: nivel {level}\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"m{level}\"\r\n\r\n--m{level}\r\n\
             Content-Type: text/plain\r\n\r\nnivel {level}\r\n--m{level}\r\n\
             Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n\
             {}\r\n--m{level}--\r\n",
            base64(raw.as_bytes())
        );
    }
    let inbound = parse_ok(raw.as_bytes());
    assert!(inbound.body_text.contains("nivel 2"), "{}", inbound.body_text);
    let damaged = inbound.problems.iter().find(|p| p.problem.contains("reenviado como adjunto"));
    assert!(damaged.is_some(), "{:#?}", inbound.problems);
}

// ------------------------------------------------------------------------------------------
// Outlook: winmail.dat and forwards as attachments (issue 14, point 7)

#[test]
fn outlook_winmail_dat_is_replaced_by_the_xml_inside_it() {
    let inbound = parse_fixture("70_outlook_winmail_dat_factura.eml");
    assert!(inbound.problems.is_empty(), "{:?}", inbound.problems);
    assert_eq!(sources(&inbound), ["winmail.dat/ad0900481236.xml"]);
    assert!(inbound.files[0].is_xml());
    assert!(String::from_utf8_lossy(&inbound.files[0].bytes).contains("AttachedDocument"));
}

#[test]
fn a_forward_inside_winmail_dat_brings_its_xml() {
    let inbound = parse_fixture("71_outlook_reenvio_dentro_de_winmail.eml");
    assert_eq!(sources(&inbound), ["winmail.dat/RV: Factura rechazada/ad0900481236.xml"]);
}

#[test]
fn an_eml_attached_as_octet_stream_is_read_as_a_forward() {
    let inbound = parse_fixture("72_reenvio_eml_como_octet_stream.eml");
    assert!(inbound.problems.is_empty(), "{:?}", inbound.problems);
    assert_eq!(sources(&inbound), ["reenviado/ad0900481236.xml"]);
    assert!(inbound.body_text.contains("Mensaje reenviado"));
    assert!(inbound.body_text.contains("La DIAN rechazó la factura SETP990000002"));
}

#[test]
fn an_outlook_msg_is_said_to_be_unreadable() {
    let raw = multipart(
        b"Reenvio",
        &[
            ("Content-Type: text/plain; charset=utf-8", b"Va el correo."),
            (
                "Content-Type: application/vnd.ms-outlook; name=\"Factura.msg\"\r\n\
                 Content-Disposition: attachment; filename=\"Factura.msg\"",
                b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
            ),
        ],
    );
    let inbound = parse_ok(&raw);
    assert!(inbound.files.is_empty());
    assert!(problem_for(&inbound, "Factura.msg").contains(".eml"), "{:?}", inbound.problems);
}

#[test]
fn outlooks_thread_index_is_kept_for_the_answer() {
    let inbound = parse_fixture("70_outlook_winmail_dat_factura.eml");
    assert_eq!(inbound.thread_index.as_deref(), Some("AdlRmN3Jq8K2lXzUTuO1Yk0Fb1Qx3w=="));
    let folded =
        b"From: a@b.example\r\nThread-Index: AdlRmN3Jq8K2\r\n lXzUTuO1Yk0Fb1Qx3w==\r\n\r\nx";
    assert_eq!(parse_ok(folded).thread_index.as_deref(), Some("AdlRmN3Jq8K2lXzUTuO1Yk0Fb1Qx3w=="));
    let junk = b"From: a@b.example\r\nThread-Index: <script>\r\n\r\nx";
    assert_eq!(parse_ok(junk).thread_index, None, "not base64: not Outlook's, not extended");
    assert_eq!(parse_fixture("22_reenvio_rfc822_con_xml.eml").thread_index, None);
}
