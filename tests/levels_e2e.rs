//! Levels end to end, against the real Postfix + Dovecot of deploy/dev/mailstack.sh: agents work
//! cases by answering the desk's mail (N2 → N3 → Administración Técnica → solution → control
//! posterior), mass incidents hand one solution to every child on its own thread, and a security
//! report reaches only the security group. Every check is on what lands in real mailboxes and on
//! the case's history (`case show --json`).

mod common;

use std::time::{Duration, Instant};

use common::mail::{
    Letter, Mail, WAIT, case_number, clear_inbox, events, field, fixture_xml, inbox, outbox, reply,
    smtp_port, smtp_send, trusted_mta_toml, undelivered_invoice_request, unique, wait_case,
    wait_mail, wait_outbox_drained,
};
use common::{Daemon, Stack};
use serde_json::Value;

const ALIADOS: &str = "sd_fistrib_fe_aliados@dian.gov.co";
const PROVIDER: &str = "proveedor1@pt.test";
const N2: &str = "agente.n2@fe.test";
const N3: &str = "agente.n3@fe.test";
const CSAT: &str = "csat@fe.test";
const CATCHALL: &str = "catchall@fe.test";
/// The security group's agent. fe.test and pt.test are strict domains of the stack (unknown users
/// are refused with 550), so addresses that must land in the catch-all use other domains.
const SECURITY_AGENT: &str = "oficial.seguridad@seguridad.test";
/// The default N1 group's coordinator (config/mesa-fe.example.toml): lands in the catch-all.
const N1_COORDINATOR: &str = "mesa.n1@dian.gov.co";
const CSAT_TICKET: &str = "CSAT-4711";

const N2_GROUPS: &str = "[\"n2_factura\", \"n2_radian\", \"n2_nomina\", \"n2_documento_soporte\", \
                         \"n2_habilitacion\", \"n2_facturador_gratuito\"]";

/// The aliados buzón on loopback IMAP/SMTP; CSAT is the stack's csat user; one N2 agent for every
/// N2 group (not security), one N3 agent, one security agent. `business_days`: the control window.
fn config(stack: &Stack, processed: &str, business_days: u32) -> String {
    format!(
        "{auth}[[buzones]]\nnombre = \"aliados\"\ndireccion = \"{ALIADOS}\"\ncanal = \"correo\"\n\
         [buzones.imap]\nservidor = \"{host}\"\npuerto = {imap}\ntls = \"ninguno\"\nusuario = \"{ALIADOS}\"\n\
         autenticacion = \"contrasena\"\ncontrasena = {{ variable = \"MESA_FE_MAILSTACK_PASSWORD\" }}\n\
         carpeta = \"INBOX\"\ncarpeta_procesados = \"{processed}\"\nintervalo_sondeo_segundos = 2\n\
         [buzones.smtp]\nservidor = \"{host}\"\npuerto = {smtp}\ntls = \"ninguno\"\n\n\
         [enrutamiento]\nadministracion_tecnica = \"{CSAT}\"\n\n\
         [control_posterior]\ndias_habiles = {business_days}\nrevision_segundos = 1\n\n\
         [masiva]\ncasos_para_sugerir = 5\nventana_minutos = 60\nmuestra_validacion = 3\n\n\
         [[agentes]]\ncorreo = \"{N2}\"\nnombre = \"Agente N2\"\nnivel = \"n2\"\ngrupos = {N2_GROUPS}\nactivo = true\n\n\
         [[agentes]]\ncorreo = \"{N3}\"\nnombre = \"Agente N3\"\nnivel = \"n3\"\ngrupos = [\"n3\"]\nactivo = true\n\n\
         [[agentes]]\ncorreo = \"{SECURITY_AGENT}\"\nnombre = \"Oficial de Seguridad\"\nnivel = \"n2\"\n\
         grupos = [\"seguridad\"]\nactivo = true\n",
        auth = trusted_mta_toml(),
        host = stack.host,
        imap = stack.imap_port,
        smtp = smtp_port(),
    )
}

/// Empty INBOXes for every user these tests read, a fresh processed folder, and the daemon.
async fn start_desk(stack: &Stack, processed: &str, business_days: u32) -> Daemon {
    for user in [ALIADOS, PROVIDER, N2, N3, CSAT, CATCHALL] {
        clear_inbox(stack, user).await;
    }
    stack.fresh_folders(ALIADOS, &[processed]).await;
    let mut daemon = Daemon::new(&config(stack, processed, business_days));
    daemon.start();
    daemon
}

// ------------------------------------------------------------------------------------ sending

/// A complete request (description, NIT, document number) from `from`, tagged with `token`.
fn request(from: &str, name: &str, token: &str, number: &str, message_id: &str) -> Vec<u8> {
    undelivered_invoice_request(from, name, ALIADOS, token, number, message_id, "")
}

/// An agent's (or CSAT's) answer to a mail of the desk: the command on the first line.
async fn answer(stack: &Stack, from: &str, name: &str, to_mail: &Mail, subject: &str, body: &str) {
    reply(stack, from, name, ALIADOS, to_mail, subject, body).await;
}

// ------------------------------------------------------------------------------------ the case

fn has_event(detail: &Value, pred: impl Fn(i64, &str) -> bool) -> bool {
    events(detail).iter().any(|e| {
        pred(e["activity"].as_i64().unwrap_or_default(), e["detail"].as_str().unwrap_or_default())
    })
}

// ------------------------------------------------------------------------------------ the tests

#[tokio::test]
async fn a_case_climbs_n2_n3_csat_and_the_solution_comes_back_on_the_requesters_thread() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-niveles-viaje", 0).await;
    let token = unique("viaje");
    let request_id = format!("{token}.solicitud@pt.test");
    let request = Letter {
        from: PROVIDER,
        name: "Proveedor Uno",
        to: ALIADOS,
        subject: &format!("Consulta factura LCE4821 ({token})"),
        message_id: &request_id,
        reply_to: None,
        body: "Buenas tardes. La factura LCE4821 del NIT 900.481.236-1 fue validada por la DIAN, \
               pero el adquiriente no la encuentra en el catálogo. Adjuntamos el AttachedDocument. \
               ¿Qué revisamos?",
        headers: "",
        xml: true,
    };
    smtp_send(&stack, PROVIDER, ALIADOS, &request.bytes()).await;

    // The provider's acknowledgement, on his thread, names the case.
    let ack = wait_mail(&stack, &daemon, PROVIDER, "acuse", |m| {
        m.in_reply_to.iter().any(|id| id == &request_id)
    })
    .await;
    let number = case_number(&ack.subject);
    assert!(ack.subject.contains(&token), "{}", ack.subject);
    assert!(ack.shown().contains(&number), "the acuse names the case: {}", ack.text);

    // N2 is told, diagnoses, escalates.
    let n2_note = wait_mail(&stack, &daemon, N2, "notificación N2", |m| {
        m.subject.contains(&token) && m.subject.contains(&number)
    })
    .await;
    let diagnosis = "El XML está bien firmado; el servicio de consulta no encuentra el CUFE.";
    answer(
        &stack,
        N2,
        "Agente N2",
        &n2_note,
        &format!("RE: {}", n2_note.subject),
        &format!("#nota\n{diagnosis}"),
    )
    .await;
    wait_case(&daemon, &number, "the N2 diagnosis", |d| has_event(d, |a, _| a == 5)).await;
    answer(
        &stack,
        N2,
        "Agente N2",
        &n2_note,
        &format!("RE: {}", n2_note.subject),
        "#escalar\nHay que revisar el catálogo de la DIAN: pasa a nivel 3.",
    )
    .await;
    wait_case(&daemon, &number, "the case at N3", |d| field(d, "level") == "n3").await;

    // N3 is told and escalates to Administración Técnica.
    let n3_note = wait_mail(&stack, &daemon, N3, "notificación N3", |m| {
        m.subject.contains(&token) && m.subject.contains(&number)
    })
    .await;
    answer(
        &stack,
        N3,
        "Agente N3",
        &n3_note,
        &format!("RE: {}", n3_note.subject),
        "#escalar\nEl catálogo no tiene el documento aunque la validación fue exitosa.",
    )
    .await;

    // CSAT gets the package: the case number in the subject, the requester's XML attached, the
    // N2 diagnosis inside.
    let package = wait_mail(&stack, &daemon, CSAT, "paquete para Administración Técnica", |m| {
        m.subject.contains(&token)
    })
    .await;
    assert!(package.subject.contains(&number), "{}", package.subject);
    let xml = fixture_xml();
    assert!(
        package.attachments.iter().any(|(name, bytes)| name.ends_with(".xml") && *bytes == xml),
        "the package carries the requester's XML as a MIME part: {:?}",
        package.attachments.iter().map(|(n, b)| (n, b.len())).collect::<Vec<_>>()
    );
    assert!(
        package.text.contains(diagnosis),
        "the package carries the N2 diagnosis:\n{}",
        package.text
    );

    // CSAT answers with the solution, under its own ticket.
    let solution =
        "Se republicó el documento en el catálogo de la DIAN; el adquiriente ya puede consultarlo.";
    answer(
        &stack,
        CSAT,
        "Administración Técnica",
        &package,
        &format!("RE: {} [{CSAT_TICKET}]", package.subject),
        &format!("#solucion\n{solution}"),
    )
    .await;

    // The provider gets it on his own thread, with the tag.
    let solved = wait_mail(&stack, &daemon, PROVIDER, "solución al proveedor", |m| {
        m.text.contains(solution)
    })
    .await;
    assert!(
        solved.thread().contains(&request_id.as_str()),
        "the solution threads on the provider's request: In-Reply-To {:?} References {:?}",
        solved.in_reply_to,
        solved.references
    );
    assert!(solved.subject.contains(&format!("[{number}]")), "{}", solved.subject);

    // Every level the case went through hears of it, down to N1.
    for (user, to) in [(N3, N3), (N2, N2), (CATCHALL, N1_COORDINATOR)] {
        wait_mail(&stack, &daemon, user, &format!("aviso de solución a {to}"), |m| {
            m.is_to(to) && m.subject.contains(&token) && m.text.contains(solution)
        })
        .await;
    }

    // With a window of 0 business days, the next sweep closes it.
    let closed = wait_case(&daemon, &number, "control posterior closes", |d| {
        field(d, "status") == "cerrado"
    })
    .await;
    let mut activities: Vec<i64> =
        events(&closed).iter().filter_map(|e| e["activity"].as_i64()).collect();
    activities.dedup();
    assert_eq!(activities, (1..=12).collect::<Vec<_>>(), "the procedure's activities in order");
    assert_eq!(closed["external_ref"].as_str(), Some(CSAT_TICKET), "CSAT's ticket is kept");
}

#[tokio::test]
async fn escalating_to_csat_without_an_n2_diagnosis_is_refused() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-niveles-sin-diag", 3).await;
    let token = unique("sindiag");
    let (n2_note, number) = request_at_n2(&stack, &daemon, &token, "FEPT6001").await;
    answer(
        &stack,
        N2,
        "Agente N2",
        &n2_note,
        &format!("RE: {}", n2_note.subject),
        "#escalar\nNo sé qué pasa, que lo vea nivel 3.",
    )
    .await;
    let n3_note =
        wait_mail(&stack, &daemon, N3, "notificación N3", |m| m.subject.contains(&token)).await;
    answer(
        &stack,
        N3,
        "Agente N3",
        &n3_note,
        &format!("RE: {}", n3_note.subject),
        "#escalar\nPasa a Administración Técnica.",
    )
    .await;

    let refusal = wait_mail(&stack, &daemon, N3, "respuesta al comando", |m| {
        m.subject.contains(&token) && m.message_id != n3_note.message_id
    })
    .await;
    assert!(refusal.is_kind("respuesta_comando"), "{}", refusal.message_id);
    assert!(refusal.subject.contains(&number), "{}", refusal.subject);
    assert!(
        refusal.text.contains("diagnóstico"),
        "the refusal says the N2 diagnosis is missing:\n{}",
        refusal.text
    );

    let detail = wait_outbox_drained(&daemon, &number).await;
    assert_eq!((field(&detail, "level"), field(&detail, "status")), ("n3", "escalado"));
    assert!(
        outbox(&detail).iter().all(|row| row["to_addr"] != CSAT),
        "nothing was queued for CSAT: {:?}",
        outbox(&detail)
    );
    let to_csat: Vec<String> = inbox(&stack, CSAT)
        .await
        .into_iter()
        .filter(|m| m.subject.contains(&token))
        .map(|m| m.subject)
        .collect();
    assert!(to_csat.is_empty(), "CSAT received mail about the case: {to_csat:?}");
}

#[tokio::test]
async fn only_agents_can_solve_a_case_by_mail() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-niveles-no-agente", 3).await;
    let token = unique("noagente");
    let request_id = format!("{token}.solicitud@pt.test");
    let raw = request(PROVIDER, "Proveedor Uno", &token, "FEPT7001", &request_id);
    smtp_send(&stack, PROVIDER, ALIADOS, &raw).await;
    let ack = wait_mail(&stack, &daemon, PROVIDER, "acuse", |m| {
        m.in_reply_to.iter().any(|id| id == &request_id)
    })
    .await;
    let number = case_number(&ack.subject);
    let n2_note =
        wait_mail(&stack, &daemon, N2, "notificación N2", |m| m.subject.contains(&token)).await;

    // The requester himself, a stranger holding the thread, and someone posing as the agent with
    // failed SPF and DKIM all write "#solucion".
    let reply = format!("RE: {}", ack.subject);
    let attempts = [
        (
            PROVIDER,
            "Proveedor Uno",
            &ack,
            "#solucion\nYa lo resolvimos nosotros, pueden cerrar.",
            "",
        ),
        ("intruso@otro.test", "Intruso", &ack, "#solucion\nCaso resuelto, no respondan más.", ""),
        (
            N2,
            "Agente N2",
            &n2_note,
            "#solucion\nReenvíe la factura, ya quedó.",
            "Authentication-Results: mx.dian.gov.co; dkim=fail (bad signature) header.d=fe.test; \
             spf=fail smtp.mailfrom=agente.n2@fe.test\r\n",
        ),
    ];
    for (n, (from, name, answered, body, headers)) in attempts.iter().enumerate() {
        let id = format!("{token}.intento{n}@{}", from.rsplit('@').next().unwrap_or_default());
        let raw = Letter {
            from,
            name,
            to: ALIADOS,
            subject: &reply,
            message_id: &id,
            reply_to: Some(&answered.message_id),
            body,
            headers,
            xml: false,
        }
        .bytes();
        smtp_send(&stack, from, ALIADOS, &raw).await;
    }
    let detail = wait_case(&daemon, &number, "all three messages read", |d| {
        d["messages"].as_array().is_some_and(|m| m.len() >= 4)
    })
    .await;
    assert_eq!(detail["messages"].as_array().map(Vec::len), Some(4), "each joined the case once");
    let detail = wait_outbox_drained(&daemon, &number).await;
    assert_ne!(field(&detail, "status"), "solucionado", "a non-agent solved the case");
    assert_eq!((field(&detail, "status"), field(&detail, "level")), ("en_atencion", "n2"));
    assert!(
        outbox(&detail).iter().all(|row| row["kind"] != "solucion"),
        "no solution was queued: {:?}",
        outbox(&detail)
    );
    assert!(
        outbox(&detail)
            .iter()
            .filter(|row| row["to_addr"] == PROVIDER)
            .all(|row| row["kind"] == "acuse_recibo"),
        "only the acuse went to the provider: {:?}",
        outbox(&detail)
    );
    let to_provider: Vec<Mail> =
        inbox(&stack, PROVIDER).await.into_iter().filter(|m| m.subject.contains(&token)).collect();
    assert_eq!(
        to_provider.iter().map(|m| m.message_id.as_str()).collect::<Vec<_>>(),
        vec![ack.message_id.as_str()],
        "the provider got only his acknowledgement"
    );
}

#[tokio::test]
async fn a_mass_incident_solution_reaches_every_child_on_its_own_thread_and_a_sample_validates() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-niveles-masiva", 3).await;
    let token = unique("masiva");
    let parent_id = format!("{token}.padre@pt.test");
    smtp_send(
        &stack,
        PROVIDER,
        ALIADOS,
        &request(PROVIDER, "Proveedor Uno", &token, "FEPT8000", &parent_id),
    )
    .await;
    // The parent's own notification is out before the children come: twenty notifications to
    // the same agent within a minute go as one digest, and a slow run could fold the parent's
    // into it (the agent answers the parent's own mail below).
    let parent_note = wait_mail(&stack, &daemon, N2, "notificación del padre", |m| {
        m.subject.contains(&token) && m.subject.contains("FEPT8000")
    })
    .await;
    let children: Vec<(String, String)> = (1..=20)
        .map(|n| {
            (format!("cliente{n:02}@clientes.test"), format!("{token}.hijo{n:02}@clientes.test"))
        })
        .collect();
    for (n, (from, id)) in children.iter().enumerate() {
        let raw = request(
            from,
            &format!("Cliente {}", n + 1),
            &token,
            &format!("FEPT80{:02}", n + 1),
            id,
        );
        smtp_send(&stack, from, ALIADOS, &raw).await;
    }
    let cases = daemon
        .wait_for_cases(WAIT, |cases| {
            cases.iter().filter(|c| c.subject.contains(&token) && c.status == "en_atencion").count()
                == 21
        })
        .await;
    let ours: Vec<_> = cases.iter().filter(|c| c.subject.contains(&token)).collect();
    assert_eq!(ours.len(), 21, "21 cases at N2: {ours:?}\n{}", daemon.log());
    let parent =
        ours.iter().find(|c| c.subject.contains("FEPT8000")).expect("parent").number.clone();
    // Each requester's case, by his own request's number.
    let child_numbers: Vec<String> = (1..=20)
        .map(|n| {
            let number = format!("FEPT80{n:02}");
            ours.iter().find(|c| c.subject.contains(&number)).expect("child case").number.clone()
        })
        .collect();

    for child in &child_numbers {
        let out = daemon.cli(&["case", "link", child, &parent, "--agente", N2]);
        assert!(
            out.status.success(),
            "case link {child} {parent}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    wait_case(&daemon, &parent, "20 children", |d| {
        d["children"].as_array().is_some_and(|c| c.len() == 20)
    })
    .await;

    // The N2 agent solves the parent by mail.
    let solution = "La DIAN restableció el envío al adquiriente; reenvíe el correo de la factura.";
    answer(
        &stack,
        N2,
        "Agente N2",
        &parent_note,
        &format!("RE: {}", parent_note.subject),
        &format!("#solucion\n{solution}"),
    )
    .await;

    // Each requester gets it on his own thread.
    for ((address, request_id), number) in children.iter().zip(&child_numbers) {
        let got = wait_mail(&stack, &daemon, CATCHALL, &format!("solución a {address}"), |m| {
            m.is_to(address) && m.text.contains(solution)
        })
        .await;
        assert_eq!(got.in_reply_to, vec![request_id.clone()], "{address}: on his own thread");
        assert!(got.subject.contains(&format!("[{number}]")), "{address}: {}", got.subject);
    }
    for child in &child_numbers {
        wait_outbox_drained(&daemon, child).await;
    }
    let parent_detail =
        wait_case(&daemon, &parent, "the parent solved", |d| field(d, "status") == "solucionado")
            .await;
    assert!(
        has_event(&parent_detail, |_, detail| detail.contains("semilla")),
        "the parent's log keeps the sample's seed: {:#?}",
        events(&parent_detail)
    );

    // Exactly the sample is asked "¿se resolvió?", each on his own thread.
    let mut queued = 0;
    for child in &child_numbers {
        let detail = daemon.case_json(child).await.expect("child case");
        queued += outbox(&detail).iter().filter(|row| row["kind"] == "validacion_masiva").count();
    }
    assert_eq!(queued, 3, "muestra_validacion = 3 validation messages queued");
    let deadline = Instant::now() + WAIT;
    let validations: Vec<Mail> = loop {
        let found: Vec<Mail> = inbox(&stack, CATCHALL)
            .await
            .into_iter()
            .filter(|m| m.subject.contains(&token) && m.is_kind("validacion_masiva"))
            .collect();
        if found.len() >= 3 || Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let asked: std::collections::BTreeSet<&String> =
        validations.iter().flat_map(|m| m.to.iter()).collect();
    assert_eq!(
        (validations.len(), asked.len()),
        (3, 3),
        "3 validation messages to 3 distinct requesters: {asked:?}"
    );
    for mail in &validations {
        let (_, request_id) =
            children.iter().find(|(address, _)| mail.is_to(address)).expect("a child's requester");
        assert_eq!(&mail.in_reply_to, &vec![request_id.clone()]);
        assert!(
            mail.text.to_lowercase().contains("resolvi"),
            "asks whether it was solved:\n{}",
            mail.text
        );
    }

    // One of them answers yes; the parent's log records it.
    let sampled = &validations[0];
    let (address, _) = children.iter().find(|(a, _)| sampled.is_to(a)).expect("child");
    let child = case_number(&sampled.subject);
    let raw = Letter {
        from: address,
        name: "Cliente",
        to: ALIADOS,
        subject: &format!("RE: {}", sampled.subject),
        message_id: &format!("{token}.validacion@clientes.test"),
        reply_to: Some(&sampled.message_id),
        body: "Sí, ya quedó. Gracias.",
        headers: "",
        xml: false,
    }
    .bytes();
    smtp_send(&stack, address, ALIADOS, &raw).await;
    let parent_detail = wait_case(&daemon, &parent, "the validation on the parent", |d| {
        has_event(d, |_, detail| detail.contains(&child) && detail.contains("resuelto"))
    })
    .await;
    assert!(
        !has_event(&parent_detail, |_, detail| detail.contains(&child)
            && detail.contains("no resuelto")),
        "a «sí» is recorded as resolved: {:#?}",
        events(&parent_detail)
    );
    let child_detail = daemon.case_json(&child).await.expect("child");
    assert_eq!(field(&child_detail, "status"), "solucionado", "a survey answer does not reopen");
}

#[tokio::test]
async fn a_security_report_reaches_only_the_security_group_and_the_acuse_says_nothing_of_it() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-niveles-seguridad", 3).await;
    let token = unique("seguridad");
    let requester = "agomez@transcordillera.example";
    let request_id = format!("{token}@transcordillera.example");
    let fixture = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/mail/08_evento_seguridad_acceso_no_autorizado.eml"),
    )
    .expect("security fixture");
    let raw = fixture
        .replace("To: sd_facturaelectronica@dian.gov.co", &format!("To: {ALIADOS}"))
        .replace("<CAGx7Ym2wq8Fz@transcordillera.example>", &format!("<{request_id}>"))
        .replace(
            "Subject: Acceso no autorizado a nuestra cuenta en el portal",
            &format!("Subject: Acceso no autorizado a nuestra cuenta en el portal ({token})"),
        );
    assert!(raw.contains(&request_id) && raw.contains(ALIADOS), "fixture adapted");
    smtp_send(&stack, requester, ALIADOS, raw.as_bytes()).await;

    let note = wait_mail(&stack, &daemon, CATCHALL, "notificación al grupo de seguridad", |m| {
        m.is_to(SECURITY_AGENT) && m.subject.contains(&token)
    })
    .await;
    let number = case_number(&note.subject);
    assert!(
        note.text.to_lowercase().contains("acceso no autorizado"),
        "the security group sees the report:\n{}",
        note.text
    );

    let ack = wait_mail(&stack, &daemon, CATCHALL, "acuse al denunciante", |m| {
        m.is_to(requester) && m.in_reply_to.iter().any(|id| id == &request_id)
    })
    .await;
    assert!(ack.text.contains(&number), "the acuse names the case:\n{}", ack.text);
    let shown = ack.shown();
    for detail in [
        "11:40",
        "25 de noviembre",
        "representante legal",
        "Transportes Cordillera",
        "900.702.518",
        "dirección IP",
        "contraseña",
    ] {
        assert!(!shown.contains(detail), "the acuse repeats {detail:?} of the report:\n{shown}");
    }

    let detail = wait_outbox_drained(&daemon, &number).await;
    assert_eq!(field(&detail, "group"), "seguridad");
    assert!(
        outbox(&detail).iter().all(|row| row["to_addr"] != N2 && row["to_addr"] != N3),
        "nothing queued for N2 or N3: {:?}",
        outbox(&detail)
    );
    for agent in [N2, N3] {
        let about: Vec<String> = inbox(&stack, agent)
            .await
            .into_iter()
            .filter(|m| m.subject.contains(&token) || m.shown().contains(&token))
            .map(|m| m.subject)
            .collect();
        assert!(about.is_empty(), "{agent} got mail about the security case: {about:?}");
    }
}

#[tokio::test]
async fn an_unknown_command_gets_the_list_of_commands_and_changes_nothing() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-niveles-desconocido", 3).await;
    let token = unique("desconocido");
    let (n2_note, number) = request_at_n2(&stack, &daemon, &token, "FEPT9001").await;
    let before = wait_outbox_drained(&daemon, &number).await;
    answer(
        &stack,
        N2,
        "Agente N2",
        &n2_note,
        &format!("RE: {}", n2_note.subject),
        "#resolver\nYa quedó, el cliente reenvió la factura.",
    )
    .await;

    let reply = wait_mail(&stack, &daemon, N2, "respuesta al comando", |m| {
        m.subject.contains(&token) && m.message_id != n2_note.message_id
    })
    .await;
    assert!(reply.is_kind("respuesta_comando"), "{}", reply.message_id);
    assert!(reply.subject.contains(&number), "{}", reply.subject);
    assert!(reply.text.contains("#resolver"), "it names what was not understood:\n{}", reply.text);
    for command in [
        "#nota",
        "#solucion",
        "#solucion primer-contacto",
        "#escalar",
        "#info",
        "#asignar",
        "#padre",
        "#cerrar",
        "#reabrir",
    ] {
        assert!(reply.text.contains(command), "the reply lists {command}:\n{}", reply.text);
    }

    let after = wait_outbox_drained(&daemon, &number).await;
    for key in ["status", "level", "agent", "group"] {
        assert_eq!(after[key], before[key], "{key} changed");
    }
    assert!(
        outbox(&after).iter().all(|row| row["kind"] != "solucion"),
        "no solution was queued: {:?}",
        outbox(&after)
    );
    assert!(
        outbox(&after)
            .iter()
            .filter(|row| row["to_addr"] == PROVIDER)
            .all(|row| row["kind"] == "acuse_recibo"),
        "only the acuse went to the provider: {:?}",
        outbox(&after)
    );
    let to_provider =
        inbox(&stack, PROVIDER).await.into_iter().filter(|m| m.subject.contains(&token)).count();
    assert_eq!(to_provider, 1, "the provider got only his acknowledgement");
}

#[tokio::test]
async fn a_requester_who_answers_the_solution_within_the_window_reopens_the_case() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-niveles-reabrir", 3).await;
    let token = unique("reabrir");
    let (n2_note, number) = request_at_n2(&stack, &daemon, &token, "FEPT9501").await;
    let solution = "Pídale al adquiriente que revise la carpeta de correo no deseado.";
    answer(
        &stack,
        N2,
        "Agente N2",
        &n2_note,
        &format!("RE: {}", n2_note.subject),
        &format!("#solucion\n{solution}"),
    )
    .await;
    let solved = wait_mail(&stack, &daemon, PROVIDER, "solución al proveedor", |m| {
        m.text.contains(solution)
    })
    .await;
    wait_case(&daemon, &number, "solved, in its control window", |d| {
        field(d, "status") == "solucionado"
    })
    .await;

    // Within the 3 business days, the provider says it did not work.
    let raw = Letter {
        from: PROVIDER,
        name: "Proveedor Uno",
        to: ALIADOS,
        subject: &format!("RE: {}", solved.subject),
        message_id: &format!("{token}.no-resuelto@pt.test"),
        reply_to: Some(&solved.message_id),
        body: "No, el adquiriente sigue sin recibir la factura; ya revisó el correo no deseado.",
        headers: "",
        xml: false,
    }
    .bytes();
    smtp_send(&stack, PROVIDER, ALIADOS, &raw).await;
    let reopened =
        wait_case(&daemon, &number, "reopened", |d| field(d, "status") != "solucionado").await;
    assert_eq!(
        (field(&reopened, "status"), field(&reopened, "level")),
        ("en_atencion", "n2"),
        "reopened at the level that gave the solution"
    );
    assert!(
        has_event(&reopened, |activity, _| activity == 12),
        "control posterior records the reopening: {:#?}",
        events(&reopened)
    );
    let again = wait_mail(&stack, &daemon, N2, "el caso vuelve al agente", |m| {
        m.subject.contains(&token) && m.message_id != n2_note.message_id
    })
    .await;
    assert!(again.is_kind("notificacion_agente"), "{}", again.message_id);
    assert!(
        again.text.contains("sigue sin recibir"),
        "the agent sees what the requester answered:\n{}",
        again.text
    );
}

/// A case from `token` solved at N2 by mail; returns its number and the solution as the
/// requester received it.
async fn solved_at_n2(
    stack: &Stack,
    daemon: &Daemon,
    token: &str,
    document: &str,
) -> (String, Mail) {
    let (n2_note, number) = request_at_n2(stack, daemon, token, document).await;
    let solution = "Reenvíe la factura con el NIT corregido.";
    let subject = format!("RE: {}", n2_note.subject);
    answer(stack, N2, "Agente N2", &n2_note, &subject, &format!("#solucion\n{solution}")).await;
    let solved = wait_mail(stack, daemon, PROVIDER, "solución al proveedor", |m| {
        m.subject.contains(token) && m.text.contains(solution)
    })
    .await;
    wait_case(daemon, &number, "solved", |d| field(d, "status") == "solucionado").await;
    wait_outbox_drained(daemon, &number).await;
    (number, solved)
}

/// The provider's answer to the desk's solution, with the solution quoted below.
async fn answer_solution(stack: &Stack, token: &str, solved: &Mail, words: &str) {
    let body = format!(
        "{words}\n\nEl lun., 7 dic. 2026 a las 9:00, Mesa FE <{ALIADOS}> escribió:\n> {}",
        solved.text.lines().next().unwrap_or_default()
    );
    let raw = Letter {
        from: PROVIDER,
        name: "Proveedor Uno",
        to: ALIADOS,
        subject: &format!("RE: {}", solved.subject),
        message_id: &format!("{token}.respuesta@pt.test"),
        reply_to: Some(&solved.message_id),
        body: &body,
        headers: "",
        xml: false,
    }
    .bytes();
    smtp_send(stack, PROVIDER, ALIADOS, &raw).await;
}

#[tokio::test]
async fn thanks_close_the_case_without_mail_and_the_same_error_reopens_it_at_n2() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-niveles-gracias", 3).await;

    // "Muchas gracias, ya quedó resuelto": the requester's confirmation closes the case.
    let thanks = unique("gracias");
    let (number, solved) = solved_at_n2(&stack, &daemon, &thanks, "FEPT9601").await;
    let before = wait_outbox_drained(&daemon, &number).await;
    let n2_mail_before = inbox(&stack, N2).await.len();
    answer_solution(&stack, &thanks, &solved, "Muchas gracias, ya quedó resuelto.").await;
    let closed = wait_case(&daemon, &number, "closed", |d| field(d, "status") == "cerrado").await;
    assert!(
        has_event(&closed, |activity, detail| activity == 12
            && detail.contains("Confirmación del solicitante")),
        "the confirmation is in the history: {:#?}",
        events(&closed)
    );
    let after = wait_outbox_drained(&daemon, &number).await;
    assert_eq!(
        outbox(&after).len(),
        outbox(&before).len(),
        "nobody is mailed: {:?}",
        outbox(&after)
    );

    // "Sigue saliendo el mismo error": reopened at N2, and the agent is told.
    let again = unique("sigue");
    let (number, solved) = solved_at_n2(&stack, &daemon, &again, "FEPT9602").await;
    answer_solution(&stack, &again, &solved, "Sigue saliendo el mismo error.").await;
    let reopened =
        wait_case(&daemon, &number, "reopened", |d| field(d, "status") != "solucionado").await;
    assert_eq!((field(&reopened, "status"), field(&reopened, "level")), ("en_atencion", "n2"));
    let told = wait_mail(&stack, &daemon, N2, "el caso vuelve al agente", |m| {
        m.subject.contains(&again)
            && m.is_kind("notificacion_agente")
            && m.text.contains("mismo error")
    })
    .await;
    assert!(told.subject.contains(&number), "{}", told.subject);
    // The thanked case's agent got nothing after the thanks (the only new N2 mail is about the
    // second case).
    let thanked: Vec<Mail> = inbox(&stack, N2).await.into_iter().skip(n2_mail_before).collect();
    assert!(
        thanked.iter().all(|m| !m.subject.contains(&thanks)),
        "no mail about the thanked case: {:?}",
        thanked.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
}

// Issue 14, points 10 and 12, by mail.

#[tokio::test]
async fn csat_is_refused_without_the_xml_until_n3_writes_why_it_does_not_apply() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-niveles-sin-xml", 3).await;
    let token = unique("sinxml");
    let request_id = format!("{token}.solicitud@pt.test");
    // No XML: the request reports no DIAN rejection, so N1 did not ask for it.
    let raw = request(PROVIDER, "Proveedor Uno", &token, "FEPT7001", &request_id);
    smtp_send(&stack, PROVIDER, ALIADOS, &raw).await;
    let n2_note =
        wait_mail(&stack, &daemon, N2, "notificación N2", |m| m.subject.contains(&token)).await;
    let number = case_number(&n2_note.subject);
    let subject = format!("RE: {}", n2_note.subject);
    answer(
        &stack,
        N2,
        "Agente N2",
        &n2_note,
        &subject,
        "#nota\nEl adquiriente no recibe el correo.",
    )
    .await;
    wait_case(&daemon, &number, "the N2 diagnosis", |d| has_event(d, |a, _| a == 5)).await;
    answer(&stack, N2, "Agente N2", &n2_note, &subject, "#escalar\nRevisar el envío.").await;
    let n3_note =
        wait_mail(&stack, &daemon, N3, "notificación N3", |m| m.subject.contains(&token)).await;
    let n3_subject = format!("RE: {}", n3_note.subject);
    answer(&stack, N3, "Agente N3", &n3_note, &n3_subject, "#escalar\nFalla del envío de correo.")
        .await;
    let refusal = wait_mail(&stack, &daemon, N3, "respuesta al comando", |m| {
        m.subject.contains(&token) && m.is_kind("respuesta_comando")
    })
    .await;
    assert!(
        refusal.text.contains("XML del solicitante") && refusal.text.contains("sin-xml"),
        "the refusal says what is missing and how to go on:\n{}",
        refusal.text
    );
    let reason = "la factura nunca se generó como XML: el problema es el envío del correo";
    answer(
        &stack,
        N3,
        "Agente N3",
        &refusal,
        &format!("RE: {}", refusal.subject),
        &format!("#escalar csat sin-xml: {reason}\nEl servicio de envío rechaza el dominio."),
    )
    .await;
    let package = wait_mail(&stack, &daemon, CSAT, "paquete para Administración Técnica", |m| {
        m.subject.contains(&token)
    })
    .await;
    assert!(
        package.text.contains(reason),
        "the package says why there is no XML:\n{}",
        package.text
    );
    assert!(package.text.contains("El servicio de envío rechaza el dominio."), "{}", package.text);
    let detail = wait_outbox_drained(&daemon, &number).await;
    assert_eq!(field(&detail, "level"), "administracion_tecnica");
    assert!(has_event(&detail, |a, d| a == 10 && d.contains(reason)), "history: {detail}");
}

#[tokio::test]
async fn an_agent_marks_a_case_as_a_security_event_and_it_moves_to_the_security_group() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-niveles-marca-seguridad", 3).await;
    let token = unique("marcaseg");
    let (n2_note, number) = request_at_n2(&stack, &daemon, &token, "FEPT7002").await;
    answer(
        &stack,
        N2,
        "Agente N2",
        &n2_note,
        &format!("RE: {}", n2_note.subject),
        "#seguridad h\nEl proveedor dice por teléfono que alguien entró con su usuario.",
    )
    .await;
    let note = wait_mail(&stack, &daemon, CATCHALL, "notificación al grupo de seguridad", |m| {
        m.is_to(SECURITY_AGENT) && m.subject.contains(&number)
    })
    .await;
    assert!(note.text.contains("alguien entró con su usuario"), "{}", note.text);
    let detail = wait_outbox_drained(&daemon, &number).await;
    assert_eq!(field(&detail, "group"), "seguridad");
    assert_eq!(detail["security_category"].as_str(), Some("h"));
    assert!(
        has_event(&detail, |_, d| d.contains("Marcado como evento de seguridad, categoría h")),
        "history: {detail}"
    );
    // From now on the former agent's commands are refused.
    answer(
        &stack,
        N2,
        "Agente N2",
        &n2_note,
        &format!("RE: {}", n2_note.subject),
        "#solucion\nYa quedó.",
    )
    .await;
    let refusal = wait_mail(&stack, &daemon, N2, "respuesta al comando", |m| {
        m.subject.contains(&number) && m.is_kind("respuesta_comando")
    })
    .await;
    assert!(refusal.shown().contains("grupo de seguridad"), "{}", refusal.text);
    let after = wait_outbox_drained(&daemon, &number).await;
    assert_eq!(field(&after, "status"), "en_atencion");
}

/// A provider's request with `document` that reaches the N2 agent: the notification and the
/// case number.
async fn request_at_n2(
    stack: &Stack,
    daemon: &Daemon,
    token: &str,
    document: &str,
) -> (Mail, String) {
    let request_id = format!("{token}.solicitud@pt.test");
    let raw = request(PROVIDER, "Proveedor Uno", token, document, &request_id);
    smtp_send(stack, PROVIDER, ALIADOS, &raw).await;
    let n2_note =
        wait_mail(stack, daemon, N2, "notificación N2", |m| m.subject.contains(token)).await;
    let number = case_number(&n2_note.subject);
    (n2_note, number)
}
