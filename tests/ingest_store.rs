//! `ingest` through the real pipeline into a real SQLite store: cases, the procedure's log, the
//! outbox, dedupe, quarantine and the information round-trip.

mod common;

use std::path::Path;

use common::db::TestDb;
use common::local::{fixture, plain_mail, sample};
use mesa_fe::pipeline::{Decision, Outcome};
use mesa_fe::store::cases::CaseFilter;
use mesa_fe::store::raw::{IncomingRaw, Origin, Stored};

fn year() -> i32 {
    chrono::Datelike::year(
        &chrono::Utc::now()
            .with_timezone(&chrono::FixedOffset::west_opt(5 * 3600).expect("offset")),
    )
}

#[tokio::test]
async fn the_same_file_twice_makes_one_case() {
    let f = fixture(|_| {}).await;
    let raw = sample("mail/01_proveedor_zip_attacheddocument.eml");
    let first = f.ingest(&raw).await;
    let number = format!("FE-{}-000001", year());
    assert_eq!(
        first,
        Outcome::Opened { raw_id: 1, case: number.clone(), decision: Decision::NewCase }
    );
    let second = f.ingest(&raw).await;
    assert_eq!(second, Outcome::Duplicate { of: 1, case: Some(number) });
    assert_eq!(f.store.list_cases(&CaseFilter::default()).await.expect("list").len(), 1);
}

#[tokio::test]
async fn same_message_id_with_other_headers_is_one_case_and_both_copies_are_kept() {
    let f = fixture(|_| {}).await;
    let raw = sample("mail/06_iso8859_qp_nota_credito.eml");
    let mut relayed =
        b"Received: from relay.example by mx2.example; Thu, 26 Nov 2026 10:00:00 -0500\r\n"
            .to_vec();
    relayed.extend_from_slice(&raw);
    assert!(matches!(f.ingest(&raw).await, Outcome::Opened { .. }));
    assert!(matches!(f.ingest(&relayed).await, Outcome::Duplicate { of: 1, .. }));
    assert_eq!(f.store.list_cases(&CaseFilter::default()).await.expect("list").len(), 1);
    assert!(
        f.store.raw_message(2).await.expect("raw").is_some(),
        "the second copy is kept, not dropped"
    );
}

/// A batch is stored as if one message at a time: a message repeated inside it, or a relayed
/// copy of one, is a duplicate of the first, whether the first came in this batch or before.
#[tokio::test]
async fn a_batch_finds_its_repeats_inside_itself_and_in_the_store() {
    let f = fixture(|_| {}).await;
    let from = "Proveedor <p@pt.example>";
    let first = plain_mail(from, "Factura FE1", "<uno@pt.example>", None, "", "No llega.");
    let relay = "Received: from relay.example by mx2.example; Thu, 26 Nov 2026 10:00:00 -0500\r\n";
    let relayed = [relay.as_bytes(), &first].concat();
    // Its mailer reused the Message-ID for another request.
    let reused = plain_mail(from, "Factura FE2", "<uno@pt.example>", None, "", "Otra cosa.");
    let without_id = b"From: p@pt.example\r\nSubject: sin id\r\n\r\nHola\r\n".to_vec();
    let in_store = plain_mail(from, "Factura FE3", "<tres@pt.example>", None, "", "Antes.");
    let before = f.store.store_raw(&f.origin, Some("<tres@pt.example>"), &in_store).await;
    let Ok(Stored::New(stored_before)) = before else { panic!("stored first: {before:?}") };
    let relayed_before = [relay.as_bytes(), &in_store].concat();

    let ids = [Some("<uno@pt.example>"); 4].into_iter().chain([None, Some("<tres@pt.example>")]);
    let raws = [&first, &first, &relayed, &reused, &without_id, &relayed_before];
    let batch: Vec<IncomingRaw<'_>> = raws
        .iter()
        .zip(ids)
        .map(|(raw, message_id)| IncomingRaw { origin: &f.origin, message_id, raw })
        .collect();
    let stored = f.store.store_fetched(&batch, None).await.expect("store batch");

    let Stored::New(first_id) = stored[0] else { panic!("the first is new: {stored:?}") };
    assert_eq!(stored[1], Stored::Duplicate { of: first_id }, "the same bytes again");
    assert_eq!(stored[2], Stored::Duplicate { of: first_id }, "a relayed copy");
    let Stored::New(reused_id) = stored[3] else {
        panic!("a reused Message-ID is another message")
    };
    let Stored::New(without_id_id) = stored[4] else { panic!("no Message-ID, other bytes: new") };
    assert_eq!(stored[5], Stored::Duplicate { of: stored_before }, "a copy of a stored one");
    // Kept: the one stored before, three new, and the two relayed copies (other bytes); the
    // repeat with the same bytes is not stored again.
    for id in 1..=6 {
        assert!(f.store.raw_message(id).await.expect("raw").is_some(), "row {id} kept");
    }
    assert!(f.store.raw_message(7).await.expect("raw").is_none(), "the same bytes kept once");
    let again = f.store.store_fetched(&batch[3..5], None).await.expect("store again");
    let later = vec![Stored::Duplicate { of: reused_id }, Stored::Duplicate { of: without_id_id }];
    assert_eq!(again, later, "a later batch finds them in the store");
}

/// The IMAP UID names one message of a buzón: a second message under a UID already stored is
/// not stored, inside a batch or after it.
#[tokio::test]
async fn a_uid_already_stored_is_not_stored_again() {
    let f = fixture(|_| {}).await;
    let origin = Origin { uidvalidity: Some(9), uid: Some(7), ..f.origin.clone() };
    let one = plain_mail("p@pt.example", "uno", "<u1@pt.example>", None, "", "uno");
    let other = plain_mail("q@pt.example", "otro", "<u2@pt.example>", None, "", "otro");
    let batch = [
        IncomingRaw { origin: &origin, message_id: Some("<u1@pt.example>"), raw: &one },
        IncomingRaw { origin: &origin, message_id: Some("<u2@pt.example>"), raw: &other },
    ];
    let stored = f.store.store_fetched(&batch, None).await.expect("store");
    let Stored::New(id) = stored[0] else { panic!("the first is new: {stored:?}") };
    assert_eq!(stored[1], Stored::Duplicate { of: id });
    let again = f.store.store_fetched(&batch[1..], None).await.expect("store again");
    assert_eq!(again, vec![Stored::Duplicate { of: id }]);
    assert!(f.store.raw_message(id + 1).await.expect("raw").is_none(), "nothing else stored");
}

#[tokio::test]
async fn a_new_case_is_assigned_and_its_first_answers_are_queued() {
    let f = fixture(|_| {}).await;
    let Outcome::Opened { case, .. } =
        f.ingest(&sample("mail/01_proveedor_zip_attacheddocument.eml")).await
    else {
        panic!("expected a new case");
    };
    let detail = f.store.case_detail(&case).await.expect("detail").expect("case exists");
    assert_eq!(detail.summary.status, "en_atencion");
    assert_eq!(detail.summary.level, "n2");
    assert_eq!(detail.group.as_deref(), Some("n2_factura"));
    assert!(detail.summary.agent.is_some());
    let activities: Vec<i64> = detail.events.iter().map(|e| e.activity).collect();
    assert_eq!(activities, vec![1, 2, 3, 4]);
    assert!(detail.documents.iter().any(|d| d.number.as_deref() == Some("LCE4821")));
    let kinds: Vec<&str> = detail.outbox.iter().map(|o| o.kind.as_str()).collect();
    assert_eq!(kinds, vec!["acuse_recibo", "notificacion_agente"]);
    let ack = &detail.outbox[0];
    assert_eq!(ack.to_addr, "jpardo@andinas-contables.example");
    assert!(ack.subject.starts_with(&format!("[{case}] ")), "{}", ack.subject);
}

#[tokio::test]
async fn information_round_trip_moves_the_case_to_n2() {
    let f = fixture(|_| {}).await;
    let Outcome::Opened { case, decision, .. } =
        f.ingest(&sample("mail/02_contribuyente_texto_sin_requisitos.eml")).await
    else {
        panic!("expected a new case");
    };
    assert_eq!(decision, Decision::RequestInformation);
    let waiting = f.store.case_detail(&case).await.expect("detail").expect("case");
    assert_eq!(waiting.summary.status, "pendiente_informacion");
    assert_eq!(waiting.missing_requirements, vec!["documento", "nit", "xml"]);
    let request = &waiting.outbox[0];
    assert_eq!(request.kind.as_str(), "solicitud_informacion");
    assert_eq!(request.to_addr, "rosa.cardenas.contable@correo.example");

    let reply = follow_up_with_xml(&request.message_id, &request.subject);
    assert_eq!(f.ingest(&reply).await, Outcome::Appended { raw_id: 2, case: case.clone() });
    let moved = f.store.case_detail(&case).await.expect("detail").expect("case");
    assert_eq!(moved.summary.status, "en_atencion");
    assert_eq!(moved.summary.level, "n2");
    assert!(moved.missing_requirements.is_empty());
    assert_eq!(moved.messages.len(), 2);
    let activities: Vec<i64> = moved.events.iter().map(|e| e.activity).collect();
    assert_eq!(activities, vec![1, 2, 2, 3, 4]);
    let queued: Vec<&str> = moved.outbox.iter().map(|o| o.kind.as_str()).collect();
    assert_eq!(queued, vec!["solicitud_informacion", "acuse_recibo", "notificacion_agente"]);
}

/// Rosa answers on the thread (In-Reply-To our request) with the AttachedDocument.
fn follow_up_with_xml(in_reply_to: &str, subject: &str) -> Vec<u8> {
    let xml = sample("dian/ad_factura_validada_02.xml");
    let encoded = base64_lines(&xml);
    format!(
        "From: Rosa Elvira Cardenas <rosa.cardenas.contable@correo.example>\r\n\
         To: sd_facturaelectronica@dian.gov.co\r\nSubject: RE: {subject}\r\n\
         Message-ID: <respuesta.rosa.1@correo.example>\r\nIn-Reply-To: {in_reply_to}\r\n\
         References: {in_reply_to}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nAdjunto el XML de la factura.\r\n--b\r\n\
         Content-Type: text/xml; name=\"ad0900481236.xml\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"ad0900481236.xml\"\r\n\r\n{encoded}\r\n--b--\r\n"
    )
    .into_bytes()
}

fn base64_lines(bytes: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let lines: Vec<&str> =
        text.as_bytes().chunks(76).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    lines.join("\r\n")
}

#[tokio::test]
async fn unreadable_bytes_are_quarantined_with_a_reason_and_kept() {
    let f = fixture(|_| {}).await;
    let outcome = f.ingest(&sample("pipeline/20_basura_binaria.eml")).await;
    assert!(matches!(outcome, Outcome::Quarantined { raw_id: 1, .. }), "{outcome:?}");
    let listed = f.store.quarantine_list().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].reason.is_empty());
    let (_, raw) = f.store.quarantine_entry(1).await.expect("entry").expect("kept");
    assert_eq!(raw, sample("pipeline/20_basura_binaria.eml"));
}

#[tokio::test]
async fn machine_mail_without_a_case_is_kept_and_not_answered() {
    let f = fixture(|_| {}).await;
    let outcome = f.ingest(&sample("mail/05_rebote_dsn.eml")).await;
    assert_eq!(outcome, Outcome::Ignored { raw_id: 1 });
    assert!(f.store.list_cases(&CaseFilter::default()).await.expect("list").is_empty());
}

#[tokio::test]
async fn a_tag_for_an_unknown_case_opens_a_new_one() {
    let f = fixture(|_| {}).await;
    let outcome = f.ingest(&sample("mail/03_respuesta_outlook_FE-2026-000042.eml")).await;
    let Outcome::Opened { case, decision, .. } = outcome else {
        panic!("expected a new case: {outcome:?}")
    };
    assert_eq!(decision, Decision::NewCase);
    assert_ne!(case, "FE-2026-000042");
}

#[tokio::test]
async fn case_numbers_have_no_gaps_across_all_samples() {
    let f = fixture(|_| {}).await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mail");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    for path in &names {
        f.ingest(&std::fs::read(path).expect("read")).await;
    }
    let cases = f.store.list_cases(&CaseFilter::default()).await.expect("list");
    assert!(cases.len() >= 10, "only {} cases", cases.len());
    for (i, case) in cases.iter().enumerate() {
        assert_eq!(case.number, format!("FE-{}-{:06}", year(), i + 1));
    }
    let known = f
        .store
        .list_cases(&CaseFilter {
            status: mesa_fe::desk::case::Status::parse("solucionado"),
            ..CaseFilter::default()
        })
        .await
        .expect("list");
    assert!(!known.is_empty(), "the FAD06 sample is solved at first contact");
}

#[tokio::test]
async fn a_message_stored_but_not_processed_is_processed_at_the_next_start() {
    let f = fixture(|_| {}).await;
    let raw = sample("mail/06_iso8859_qp_nota_credito.eml");
    // The crash window: the raw bytes are committed, processing never ran.
    let stored = f.store.store_raw(&f.origin, Some("x@y"), &raw).await.expect("store");
    assert_eq!(stored, mesa_fe::store::raw::Stored::New(1));
    assert!(f.store.list_cases(&CaseFilter::default()).await.expect("list").is_empty());
    let replayed = f.desk.process_pending(&f.store).await.expect("replay");
    assert!(matches!(replayed.as_slice(), [Outcome::Opened { raw_id: 1, .. }]), "{replayed:?}");
    assert!(
        f.desk.process_pending(&f.store).await.expect("again").is_empty(),
        "processed once only"
    );
    assert_eq!(f.store.list_cases(&CaseFilter::default()).await.expect("list").len(), 1);
}

#[tokio::test]
async fn answers_to_a_follow_up_leave_from_the_buzon_the_case_came_in_on() {
    let f = fixture(|_| {}).await;
    let Outcome::Opened { case, .. } =
        f.ingest(&sample("mail/02_contribuyente_texto_sin_requisitos.eml")).await
    else {
        panic!("expected a new case");
    };
    let request = f.store.case_detail(&case).await.expect("detail").expect("case").outbox.remove(0);
    let other_buzon = Origin::local("aliados");
    let reply = follow_up_with_xml(&request.message_id, &request.subject);
    f.desk.ingest(&f.store, &other_buzon, &reply).await.expect("ingest");
    let detail = f.store.case_detail(&case).await.expect("detail").expect("case");
    assert!(detail.outbox.len() > 1);
    assert!(detail.outbox.iter().all(|o| o.buzon == "facturaelectronica"), "{:?}", detail.outbox);
}

#[tokio::test]
async fn a_reply_quoting_our_signed_message_id_joins_the_case_even_without_the_tag() {
    let f = fixture(|_| {}).await;
    let Outcome::Opened { case, .. } =
        f.ingest(&sample("mail/02_contribuyente_texto_sin_requisitos.eml")).await
    else {
        panic!("expected a new case");
    };
    let ours = f
        .store
        .case_detail(&case)
        .await
        .expect("detail")
        .expect("case")
        .outbox
        .remove(0)
        .message_id;
    assert_eq!(
        f.desk.ids.verify(&ours).as_deref(),
        Some(case.as_str()),
        "our Message-IDs are signed: {ours}"
    );
    let reply = plain_mail(
        "Rosa <rosa.cardenas.contable@correo.example>",
        "Re: la ayuda que pedí",
        "<sin.etiqueta@correo.example>",
        Some(&ours),
        "",
        "Les comparto el NIT 900.123.456-7 y la factura FE4410.",
    );
    assert_eq!(f.ingest(&reply).await, Outcome::Appended { raw_id: 2, case });
}

#[tokio::test]
async fn a_stranger_with_a_guessed_tag_gets_a_case_of_their_own() {
    let f = fixture(|_| {}).await;
    let Outcome::Opened { case, .. } =
        f.ingest(&sample("mail/02_contribuyente_texto_sin_requisitos.eml")).await
    else {
        panic!("expected a new case");
    };
    let guess = plain_mail(
        "Curioso <curioso@otro.example>",
        &format!("RE: [{case}] Ayuda con factura rechazada"),
        "<adivina@otro.example>",
        None,
        "",
        "Quiero saber el estado de este caso. NIT 800.111.222-3, factura FV1002.",
    );
    let outcome = f.ingest(&guess).await;
    let Outcome::Opened { case: other, .. } = outcome else {
        panic!("expected its own case: {outcome:?}")
    };
    assert_ne!(other, case, "a guessed tag must not reach someone else's case");
    let original = f.store.case_detail(&case).await.expect("detail").expect("case");
    assert_eq!(original.messages.len(), 1, "nothing was added to the original case");
}

#[tokio::test]
async fn our_own_mail_coming_back_is_ignored() {
    let f = fixture(|_| {}).await;
    let Outcome::Opened { case, .. } =
        f.ingest(&sample("mail/02_contribuyente_texto_sin_requisitos.eml")).await
    else {
        panic!("expected a new case");
    };
    let ours = f
        .store
        .case_detail(&case)
        .await
        .expect("detail")
        .expect("case")
        .outbox
        .remove(0)
        .message_id;
    let echo = plain_mail(
        "Mesa <sd_facturaelectronica@dian.gov.co>",
        &format!("[{case}] Ayuda con factura rechazada"),
        &ours,
        None,
        "",
        "Para atender su solicitud necesitamos el NIT y el XML.",
    );
    assert_eq!(f.ingest(&echo).await, Outcome::Ignored { raw_id: 2 });
    let detail = f.store.case_detail(&case).await.expect("detail").expect("case");
    assert_eq!(detail.outbox.len(), 1, "no answer to our own mail");
}

#[tokio::test]
async fn one_sender_gets_at_most_the_hourly_cap_of_automatic_answers() {
    // Every message opens its own case here: this is the answers' brake, not the cases'.
    let f = fixture(|c| c.general.cases_per_sender_hour = 0).await;
    let cap = f.desk.config.general.auto_replies_per_hour as usize;
    let mut cases = Vec::new();
    for n in 0..cap + 3 {
        let mail = plain_mail(
            "Bot Ruidoso <bot@ruidoso.example>",
            &format!("Consulta {n}"),
            &format!("<ruido.{n}@ruidoso.example>"),
            None,
            "",
            "Necesito ayuda con la factura FV2001 del NIT 900.123.456-7, por favor.",
        );
        let Outcome::Opened { case, .. } = f.ingest(&mail).await else { panic!("expected a case") };
        cases.push(case);
    }
    let mut to_requester = 0;
    for case in &cases {
        let detail = f.store.case_detail(case).await.expect("detail").expect("case");
        to_requester += detail.outbox.iter().filter(|o| o.to_addr == "bot@ruidoso.example").count();
    }
    assert_eq!(to_requester, cap, "the brake holds the answers past the cap");
    let last =
        f.store.case_detail(cases.last().expect("case")).await.expect("detail").expect("case");
    assert!(last.events.iter().any(|e| e.detail.contains("Tope de")), "{:?}", last.events);
    assert!(
        last.outbox.iter().any(|o| o.kind.as_str() == "notificacion_agente"),
        "agents are still told"
    );
}

#[tokio::test]
async fn two_workers_processing_the_same_message_make_one_case() {
    let f = fixture(|_| {}).await;
    let raw = sample("mail/06_iso8859_qp_nota_credito.eml");
    let stored = f.store.store_raw(&f.origin, None, &raw).await.expect("store");
    assert_eq!(stored, mesa_fe::store::raw::Stored::New(1));
    let (first, second) = tokio::join!(
        f.desk.process(&f.store, 1, &f.origin, &raw),
        f.desk.process(&f.store, 1, &f.origin, &raw)
    );
    let outcomes = [first.expect("first"), second.expect("second")];
    let opened = outcomes.iter().filter(|o| matches!(o, Outcome::Opened { .. })).count();
    assert_eq!(opened, 1, "{outcomes:?}");
    assert!(outcomes.iter().any(|o| matches!(o, Outcome::Duplicate { of: 1, .. })), "{outcomes:?}");
    assert_eq!(f.store.list_cases(&CaseFilter::default()).await.expect("list").len(), 1);
}

fn request_from(from: &str, n: usize) -> Vec<u8> {
    plain_mail(
        from,
        &format!("Consulta {n}"),
        &format!("<avalancha.{n}@ruidoso.example>"),
        None,
        "",
        &format!("Necesito ayuda con la factura FV{n:04} del NIT 900.123.456-7, por favor."),
    )
}

#[tokio::test]
async fn a_flood_from_one_sender_opens_at_most_the_cap_and_tells_the_coordinator_once() {
    let f = fixture(|_| {}).await;
    let cap = f.desk.config.general.cases_per_sender_hour as usize;
    let mut outcomes = Vec::new();
    for n in 0..201 {
        outcomes.push(f.ingest(&request_from("Bot Ruidoso <bot@ruidoso.example>", n)).await);
    }
    let opened: Vec<&String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Opened { case, .. } => Some(case),
            _ => None,
        })
        .collect();
    assert_eq!(opened.len(), cap, "cases opened by one sender in an hour");
    let latest = opened.last().expect("a case").to_string();
    let joined = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Appended { case, .. } if *case == latest))
        .count();
    assert_eq!(joined, 201 - cap, "the rest join the sender's latest case: {outcomes:?}");
    let detail = f.store.case_detail(&latest).await.expect("detail").expect("case");
    assert_eq!(detail.messages.len(), 201 - cap + 1, "every message is kept on the case");
    assert!(detail.events.iter().any(|e| e.detail.contains("tope de casos por remitente")));
    let all: Vec<_> = f
        .store
        .list_outbox(None)
        .await
        .expect("outbox")
        .into_iter()
        .map(|row| row.expect("a readable row"))
        .collect();
    let notices: Vec<_> = all.iter().filter(|o| o.kind.as_str() == "aviso_tope_casos").collect();
    assert_eq!(notices.len(), 1, "the coordinator is told once");
    assert_eq!(notices[0].to_addr, "coord.factura@dian.gov.co");
    assert_eq!(notices[0].case_number, latest);
    let to_agents = all.iter().filter(|o| o.kind.as_str() == "notificacion_agente").count();
    assert_eq!(to_agents, cap, "one notification per case, none per joined message");
    // Another sender is not held by this one's cap.
    let other = f.ingest(&request_from("Rosa <rosa@correo.example>", 500)).await;
    assert!(matches!(other, Outcome::Opened { .. }), "{other:?}");
}

#[tokio::test]
async fn a_security_report_past_the_cap_still_opens_its_own_case() {
    let f = fixture(|c| c.general.cases_per_sender_hour = 2).await;
    let from = "Bot Ruidoso <bot@ruidoso.example>";
    for n in 0..3 {
        f.ingest(&request_from(from, n)).await;
    }
    let report = plain_mail(
        from,
        "Acceso no autorizado",
        "<seguridad.1@ruidoso.example>",
        None,
        "",
        "Reportamos un acceso no autorizado al portal de facturación con nuestro usuario.",
    );
    let Outcome::Opened { case, .. } = f.ingest(&report).await else {
        panic!("a security report opens its own case")
    };
    let detail = f.store.case_detail(&case).await.expect("detail").expect("case");
    assert_eq!(detail.security_category.as_deref(), Some("h"));
}

#[tokio::test]
async fn out_of_office_and_bulk_mail_are_stored_but_not_answered() {
    let f = fixture(|_| {}).await;
    let subjects = [
        "Respuesta automática: Factura rechazada",
        "Fuera de la oficina",
        "Out of Office: factura",
        "Automatic reply: factura",
    ];
    let mut mails: Vec<Vec<u8>> = subjects
        .iter()
        .enumerate()
        .map(|(n, subject)| {
            plain_mail(
                "Rosa <rosa@correo.example>",
                subject,
                &format!("<ooo.{n}@correo.example>"),
                None,
                "",
                "Estaré fuera hasta el lunes. Necesito ayuda con la factura FV2001 del NIT 900.123.456-7.",
            )
        })
        .collect();
    mails.push(plain_mail(
        "Boletín <boletin@tienda.example>",
        "Ofertas de la semana en facturación",
        "<boletin.1@tienda.example>",
        None,
        "List-Unsubscribe: <mailto:baja@tienda.example>\r\n",
        "Conozca nuestro software de factura electrónica. NIT 900.123.456-7, factura FV2001.",
    ));
    for mail in &mails {
        let outcome = f.ingest(mail).await;
        assert!(matches!(outcome, Outcome::Ignored { .. }), "{outcome:?}");
    }
    assert!(f.store.list_outbox(None).await.expect("outbox").is_empty(), "nobody is answered");
    for raw_id in 1..=5 {
        assert!(f.store.raw_message(raw_id).await.expect("raw").is_some(), "stored");
    }
}

#[tokio::test]
async fn an_out_of_office_on_a_solved_case_is_recorded_without_reopening_it() {
    let f = fixture(|_| {}).await;
    let Outcome::Opened { case, .. } =
        f.ingest(&sample("mail/01_proveedor_zip_attacheddocument.eml")).await
    else {
        panic!("expected a case")
    };
    let agent = f.store.case_detail(&case).await.expect("detail").expect("case").summary.agent;
    let solution = mesa_fe::desk::command::Action {
        command: mesa_fe::desk::command::Command::Solucion { first_contact: false },
        text: "Reenvíe el documento con el NIT corregido.".into(),
    };
    let agent = agent.expect("an agent");
    f.desk.act_by_cli(&f.store, &case, &agent, &solution).await.expect("solve");
    let ooo = plain_mail(
        "jpardo@andinas-contables.example",
        &format!("Fuera de la oficina: [{case}] Factura"),
        "<ooo.solucion@andinas-contables.example>",
        None,
        "",
        "Estaré fuera hasta el lunes.",
    );
    assert!(matches!(f.ingest(&ooo).await, Outcome::Appended { .. }));
    let detail = f.store.case_detail(&case).await.expect("detail").expect("case");
    assert_eq!(detail.summary.status, "solucionado", "not reopened");
    assert_eq!(detail.messages.last().map(|m| m.auto_generated), Some(1));
}

#[tokio::test]
async fn a_reused_message_id_with_other_content_is_another_message() {
    let f = fixture(|_| {}).await;
    let one_id = "<reutilizado@mailer.example>";
    let mail = |n: usize| {
        plain_mail(
            &format!("Cliente {n} <cliente{n}@correo.example>"),
            &format!("Factura FV{n:04} rechazada"),
            one_id,
            None,
            "",
            &format!("Necesito ayuda con la factura FV{n:04} del NIT 900.123.456-7, por favor."),
        )
    };
    let mut cases = Vec::new();
    for n in 1..=3 {
        match f.ingest(&mail(n)).await {
            Outcome::Opened { case, .. } => cases.push(case),
            other => panic!("message {n} must be processed, got {other:?}"),
        }
    }
    cases.dedup();
    assert_eq!(cases.len(), 3, "three messages, three cases");
    let second = f.store.case_detail(&cases[1]).await.expect("detail").expect("case");
    assert!(second.events.iter().any(|e| e.detail.contains("reutilizó")), "{:?}", second.events);
    let first = f.store.case_detail(&cases[0]).await.expect("detail").expect("case");
    assert!(!first.events.iter().any(|e| e.detail.contains("reutilizó")));
    // The first one again, relayed with one more trace header: the same message.
    let mut relayed = b"Received: from relay.example by mx2.example\r\n".to_vec();
    relayed.extend_from_slice(&mail(1));
    assert!(matches!(f.ingest(&relayed).await, Outcome::Duplicate { of: 1, .. }));
    assert!(matches!(f.ingest(&mail(1)).await, Outcome::Duplicate { of: 1, .. }));
}

/// The daemon and an operator's command may open a new database at the same moment: each must
/// find it migrated, none may fail applying a migration the other applied.
#[tokio::test]
async fn processes_opening_a_new_database_together_all_find_it_migrated() {
    for _ in 0..5 {
        let db = TestDb::new();
        let url = db.url();
        let opened =
            futures::future::join_all((0..4).map(|_| mesa_fe::store::Store::open(&url))).await;
        for store in opened {
            let store = store.expect("every opener finds the schema in place");
            assert!(store.list_cases(&CaseFilter::default()).await.expect("list").is_empty());
            store.close().await;
        }
    }
}

/// A row this version cannot read (a kind from a newer version, a context cut short) is that
/// row's error alone: the others are still due, and the bad one says what is wrong with it.
#[tokio::test]
async fn an_unreadable_outbox_row_is_its_own_error_and_the_others_stay_due() {
    let f = fixture(|_| {}).await;
    f.ingest(&sample("mail/01_proveedor_zip_attacheddocument.eml")).await;
    f.db.execute("UPDATE outbox SET kind = 'aviso_del_futuro' WHERE id = 1", &[]).await;
    f.db.execute("UPDATE outbox SET context = '{\"case\": ' WHERE id = 2", &[]).await;
    let buzones: Vec<String> = f.desk.config.buzones.iter().map(|b| b.name.clone()).collect();
    let due = f.store.due_outbox(&buzones, 10).await.expect("due");
    assert_eq!(due.len(), 2, "{due:?}");
    let unreadable = due.iter().find_map(|row| row.as_ref().err()).expect("unreadable row");
    assert_eq!(unreadable.id, 1);
    assert!(unreadable.error.to_string().contains("aviso_del_futuro"), "{}", unreadable.error);
    let readable = due.iter().find_map(|row| row.as_ref().ok()).expect("readable row");
    let error = readable.context().expect_err("context cut short");
    assert!(error.to_string().contains("correo 2"), "{error}");
    // The operator sent to look at it still sees the queue and the case.
    let listed = f.store.list_outbox(None).await.expect("outbox list");
    assert_eq!(listed.len(), 2);
    assert!(matches!(&listed[0], Err(row) if row.id == 1), "{listed:?}");
    let case = readable.case_number.clone();
    let detail = f.store.case_detail(&case).await.expect("detail").expect("case");
    assert!(detail.outbox.iter().any(|o| o.kind == "aviso_del_futuro"), "{:?}", detail.outbox);
}

/// Issue 14, point 7: an Outlook requester's Thread-Index is kept with their message, so an answer
/// an agent's action causes later still extends their conversation.
#[tokio::test]
async fn the_requesters_thread_index_is_kept_for_later_answers() {
    let f = fixture(|_| {}).await;
    let Outcome::Opened { case, .. } =
        f.ingest(&sample("mail/70_outlook_winmail_dat_factura.eml")).await
    else {
        panic!("expected a new case")
    };
    let found = f.store.case_by_number(&case).await.expect("read").expect("the case");
    let thread = f.store.requester_thread(found.id).await.expect("thread");
    assert_eq!(thread.thread_index.as_deref(), Some("AdlRmN3Jq8K2lXzUTuO1Yk0Fb1Qx3w=="));
    assert_eq!(thread.in_reply_to.as_deref(), Some("<winmail.1@ferreteria-andina.example>"));
}

/// A mail whose attachments are these XML files (8-bit text parts), from a taxpayer.
fn mail_with_xml(files: &[&str]) -> Vec<u8> {
    let mut raw = String::from(
        "From: Contabilidad <contabilidad@ceiba.example>\r\nTo: sd_facturaelectronica@dian.gov.co\r\n\
         Subject: Facturas FER10233 y otra: una rechazada\r\nMessage-ID: <dos.xml@ceiba.example>\r\n\
         Date: Thu, 26 Nov 2026 10:00:00 -0500\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"limite\"\r\n\r\n--limite\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nBuenos días. Adjuntamos las dos facturas; \
         la DIAN rechazó la primera.\r\n",
    );
    for file in files {
        let xml = String::from_utf8(sample(&format!("dian/{file}"))).expect("UTF-8 XML");
        raw.push_str(&format!(
            "--limite\r\nContent-Type: application/xml; name=\"{file}\"\r\n\
             Content-Disposition: attachment; filename=\"{file}\"\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n{xml}\r\n"
        ));
    }
    raw.push_str("--limite--\r\n");
    raw.into_bytes()
}

/// The documents of a message are written several to a statement, except one with rejections
/// (its rejections name it): they keep the order of the mail, and each rejection its document.
#[tokio::test]
async fn documents_keep_their_order_and_rejections_their_document() {
    let f = fixture(|_| {}).await;
    let raw = mail_with_xml(&["ad_factura_validada_02.xml", "ad_factura_rechazada_04.xml"]);
    let Outcome::Opened { case, .. } = f.ingest(&raw).await else { panic!("a case opens") };
    let detail = f.store.case_detail(&case).await.expect("detail").expect("case");
    let read: Vec<(&str, Option<&str>)> =
        detail.documents.iter().map(|d| (d.kind.as_str(), d.response_code.as_deref())).collect();
    assert_eq!(
        read,
        [
            ("attached_document", None),
            ("invoice", None),
            ("application_response", Some("02")),
            ("attached_document", None),
            ("invoice", None),
            ("application_response", Some("04")),
        ],
        "the documents as the mail carries them"
    );
    let codes: Vec<&str> = detail.rejections.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, ["FAD06", "FAB27b", "FAB05b"]);
    let of_rejected_response =
        f.db.fetch_i64(
            "SELECT COUNT(*) FROM rejections r JOIN documents d ON d.id = r.document_id \
             WHERE d.number = '61390544' AND d.response_code = '04'",
            &[],
        )
        .await;
    assert_eq!(of_rejected_response, Some(3), "every rejection names the response that carries it");
}
