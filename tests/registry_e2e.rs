//! The providers' registry and the known errors the desk learns, end to end against the real
//! Postfix + Dovecot of deploy/dev/mailstack.sh: the aliados buzón opens cases only for registered
//! technology providers (strangers and forged senders get one mail pointing to their channel), and
//! a problema solved with its root cause proposes a known error that, once its coordinator approves
//! it by mail, answers new cases with the same DIAN rule at first contact. Every check is on what
//! lands in real mailboxes, on `case show --json` / `case list --json` and on `kb export`.
//! (The same behaviours at the store tier: the last tests of tests/levels_store.rs.)

mod common;

use common::mail::{
    Letter, Mail, WAIT, case_number, clear_inbox, events, field, folder, matching, outbox, reply,
    smtp_port, smtp_send, trusted_mta_toml, undelivered_invoice_request, unique, vouched_header,
    wait_case, wait_mail, wait_outbox_drained,
};
use common::{Daemon, Stack};
use serde_json::Value;

const ALIADOS: &str = "sd_fistrib_fe_aliados@dian.gov.co";
/// The general buzón the redirect must point to.
const GENERAL: &str = "sd_facturaelectronica@dian.gov.co";
/// Registered by domain (pt.test) in [[proveedores]].
const PROVIDER: &str = "proveedor1@pt.test";
const PROVIDER_NIT: &str = "900123456";
const N2: &str = "agente.n2@fe.test";
const N3: &str = "agente.n3@fe.test";
const CSAT: &str = "csat@fe.test";
const CATCHALL: &str = "catchall@fe.test";
/// Not a registered provider. fe.test and pt.test are strict domains of the stack (unknown users
/// are refused with 550), so addresses that must land in the catch-all use other domains.
const STRANGER: &str = "cliente@clientes.test";
/// The n2_factura group's coordinator (config/mesa-fe.example.toml): lands in the catch-all.
const COORDINATOR: &str = "coord.factura@dian.gov.co";
/// The rule the built-in known-error base has no answer for.
const RULE: &str = "FAW99";
const RULE_TEXT: &str =
    "Regla: FAW99, Rechazo: El servicio de validación no reconoce el grupo de impuestos.";

const N2_GROUPS: &str = "[\"n2_factura\", \"n2_radian\", \"n2_nomina\", \"n2_documento_soporte\", \
                         \"n2_habilitacion\", \"n2_facturador_gratuito\"]";

/// The facturadores of the known-error test: single addresses of the registered provider
/// (`direcciones`), on a domain that lands in the catch-all, so each has his own address.
fn facturador(n: usize) -> String {
    format!("facturador{n}@facturadores.test")
}

/// The aliados buzón (providers only) on loopback IMAP/SMTP; one registered provider (the pt.test
/// domain and the facturadores' own addresses); one N2 agent for every N2 group, one N3 agent.
fn config(stack: &Stack, processed: &str) -> String {
    let addresses: Vec<String> = (0..=7).map(|n| format!("\"{}\"", facturador(n))).collect();
    format!(
        "{auth}[[buzones]]\nnombre = \"aliados\"\ndireccion = \"{ALIADOS}\"\ncanal = \"correo\"\n\
         solo_proveedores = true\n\
         [buzones.imap]\nservidor = \"{host}\"\npuerto = {imap}\ntls = \"ninguno\"\nusuario = \"{ALIADOS}\"\n\
         autenticacion = \"contrasena\"\ncontrasena = {{ variable = \"MESA_FE_MAILSTACK_PASSWORD\" }}\n\
         carpeta = \"INBOX\"\ncarpeta_procesados = \"{processed}\"\nintervalo_sondeo_segundos = 2\n\
         [buzones.smtp]\nservidor = \"{host}\"\npuerto = {smtp}\ntls = \"ninguno\"\n\n\
         [enrutamiento]\nadministracion_tecnica = \"{CSAT}\"\n\n\
         [control_posterior]\ndias_habiles = 3\n\n\
         [[agentes]]\ncorreo = \"{N2}\"\nnombre = \"Agente N2\"\nnivel = \"n2\"\ngrupos = {N2_GROUPS}\nactivo = true\n\n\
         [[agentes]]\ncorreo = \"{N3}\"\nnombre = \"Agente N3\"\nnivel = \"n3\"\ngrupos = [\"n3\"]\nactivo = true\n\n\
         [[proveedores]]\nnit = \"{PROVIDER_NIT}\"\nnombre = \"Proveedor Uno SAS\"\ndominios = [\"pt.test\"]\n\
         direcciones = [{addresses}]\n",
        auth = trusted_mta_toml(),
        host = stack.host,
        imap = stack.imap_port,
        smtp = smtp_port(),
        addresses = addresses.join(", "),
    )
}

/// Empty INBOXes for every user these tests read, a fresh processed folder, and the daemon.
async fn start_desk(stack: &Stack, processed: &str) -> Daemon {
    for user in [ALIADOS, PROVIDER, N2, N3, CSAT, CATCHALL] {
        clear_inbox(stack, user).await;
    }
    stack.fresh_folders(ALIADOS, &[processed]).await;
    let mut daemon = Daemon::new(&config(stack, processed));
    daemon.start();
    daemon
}

// ------------------------------------------------------------------------------------ sending

/// A complete request (description, NIT, document number, no rejection) tagged with `token`;
/// `headers`: extra header lines.
fn complete_request(
    from: &str,
    token: &str,
    number: &str,
    message_id: &str,
    headers: &str,
) -> Vec<u8> {
    undelivered_invoice_request(from, "Solicitante", ALIADOS, token, number, message_id, headers)
}

/// A request quoting the DIAN rule without a built-in answer, with its XML: complete.
fn rule_request(from: &str, n: usize, token: &str, message_id: &str) -> Vec<u8> {
    Letter {
        from,
        name: &format!("Facturador {n}"),
        to: ALIADOS,
        subject: &format!("Factura SETP{n:05} rechazada ({token})"),
        message_id,
        reply_to: None,
        body: &format!(
            "Buenos días, la factura SETP{n:05} del NIT 900.123.456-7 fue rechazada por la DIAN. \
             {RULE_TEXT}"
        ),
        headers: "",
        xml: true,
    }
    .bytes()
}

/// A reply to a mail of the desk: the command on the first line.
async fn answer(stack: &Stack, from: &str, name: &str, to_mail: &Mail, body: &str) {
    let subject = format!("RE: {}", to_mail.subject);
    reply(stack, from, name, ALIADOS, to_mail, &subject, body).await;
}

// ------------------------------------------------------------------------------------ the case

/// A one-shot `mesa-fe …` next to the running service; its standard output, which must succeed.
fn cli(daemon: &Daemon, args: &[&str]) -> String {
    let out = daemon.cli(args);
    assert!(
        out.status.success(),
        "mesa-fe {}: {}\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// `mesa-fe case show NUMBER --json`.
fn case_show(daemon: &Daemon, number: &str) -> Value {
    serde_json::from_str(&cli(daemon, &["case", "show", number, "--json"]))
        .expect("case show --json prints JSON")
}

/// `mesa-fe case list --canal rechazado --json`.
fn rejected_cases(daemon: &Daemon) -> Vec<Value> {
    let text = cli(daemon, &["case", "list", "--canal", "rechazado", "--json"]);
    let listed: Value = serde_json::from_str(&text).expect("case list --json prints JSON");
    listed.as_array().cloned().unwrap_or_else(|| panic!("a JSON list: {text}"))
}

fn has_event(detail: &Value, pred: impl Fn(&str) -> bool) -> bool {
    events(detail).iter().any(|e| pred(e["detail"].as_str().unwrap_or_default()))
}

fn outbox_kinds(detail: &Value) -> Vec<String> {
    outbox(detail).iter().map(|row| row["kind"].as_str().unwrap_or_default().to_string()).collect()
}

// ------------------------------------------------------------------------------------ the tests

#[tokio::test]
async fn only_registered_providers_get_a_case_in_the_aliados_buzon() {
    let stack = Stack::from_env();
    let processed = "t-registro-aliados";
    let daemon = start_desk(&stack, processed).await;

    // (a) a stranger, (b) the registered provider, (c) the provider's address with SPF and DKIM
    // failed: three requests, each with its own token.
    let stranger_token = unique("ajeno");
    let stranger_id = format!("{stranger_token}@clientes.test");
    let stranger = complete_request(STRANGER, &stranger_token, "FEPT1001", &stranger_id, "");
    smtp_send(&stack, STRANGER, ALIADOS, &stranger).await;

    let provider_token = unique("registrado");
    let provider_id = format!("{provider_token}@pt.test");
    let provider = complete_request(PROVIDER, &provider_token, "FEPT1002", &provider_id, "");
    smtp_send(&stack, PROVIDER, ALIADOS, &provider).await;

    let forged_token = unique("falsificado");
    let forged_id = format!("{forged_token}@pt.test");
    let forged = complete_request(
        PROVIDER,
        &forged_token,
        "FEPT1003",
        &forged_id,
        "Authentication-Results: mx.dian.gov.co; dkim=fail header.d=pt.test; \
         spf=fail smtp.mailfrom=pt.test\r\n",
    );
    smtp_send(&stack, PROVIDER, ALIADOS, &forged).await;

    // (a) The stranger gets one mail that points him to the general buzón and the Contact Center.
    let redirect = wait_mail(&stack, &daemon, CATCHALL, "respuesta al no registrado", |m| {
        m.is_to(STRANGER) && m.answers(&stranger_id)
    })
    .await;
    assert!(redirect.is_kind("redireccion_canal"), "a redirect, not {}", redirect.kind());
    let stranger_case = case_number(&redirect.subject);
    assert!(redirect.subject.contains(&stranger_token), "{}", redirect.subject);
    assert!(
        redirect.text.contains(GENERAL),
        "the redirect names the general buzón {GENERAL}:\n{}",
        redirect.text
    );
    assert!(
        redirect.text.contains("Contact Center"),
        "the redirect names the Contact Center:\n{}",
        redirect.text
    );
    assert!(redirect.text.contains(&stranger_case), "it names the record:\n{}", redirect.text);
    let detail = wait_outbox_drained(&daemon, &stranger_case).await;
    assert_eq!(outbox_kinds(&detail), vec!["redireccion_canal"], "only the redirect was queued");

    // (b) The registered provider gets his acuse, N2 is told, the case knows the provider.
    let ack = wait_mail(&stack, &daemon, PROVIDER, "acuse al proveedor registrado", |m| {
        m.answers(&provider_id)
    })
    .await;
    assert!(ack.is_kind("acuse_recibo"), "an acuse, not {}", ack.kind());
    let provider_case = case_number(&ack.subject);
    assert!(ack.shown().contains(&provider_case), "the acuse names the case:\n{}", ack.text);
    let note = wait_mail(&stack, &daemon, N2, "notificación N2 del proveedor", |m| {
        m.subject.contains(&provider_token)
    })
    .await;
    assert!(note.is_kind("notificacion_agente"), "{}", note.kind());
    assert_eq!(case_number(&note.subject), provider_case);
    wait_outbox_drained(&daemon, &provider_case).await;
    let shown = case_show(&daemon, &provider_case);
    assert_eq!(shown["provider_nit"].as_str(), Some(PROVIDER_NIT), "{shown:#}");
    assert_eq!(
        (field(&shown, "channel"), field(&shown, "level"), field(&shown, "status")),
        ("correo", "n2", "en_atencion")
    );

    // (c) The same address with SPF/DKIM failed is not trusted: a redirect, no case at N2.
    let forged_answer =
        wait_mail(&stack, &daemon, PROVIDER, "respuesta al correo falsificado", |m| {
            m.answers(&forged_id)
        })
        .await;
    assert!(
        forged_answer.is_kind("redireccion_canal"),
        "a sender failing SPF/DKIM is treated as not registered: got {} «{}»\n{}",
        forged_answer.kind(),
        forged_answer.subject,
        forged_answer.text
    );
    let forged_case = case_number(&forged_answer.subject);
    assert!(forged_answer.text.contains(GENERAL), "{}", forged_answer.text);
    let detail = wait_outbox_drained(&daemon, &forged_case).await;
    assert_eq!(outbox_kinds(&detail), vec!["redireccion_canal"], "only the redirect was queued");
    assert_eq!(detail["provider_nit"], Value::Null, "no provider on a forged sender's record");
    // The header really reached the buzón (the stack keeps it): what the desk read carried it.
    let stored = folder(&stack, ALIADOS, processed).await;
    let (_, raw) = stored
        .iter()
        .find(|(m, _)| m.message_id == forged_id)
        .expect("the forged request in the processed folder");
    assert!(
        String::from_utf8_lossy(raw).contains("dkim=fail header.d=pt.test"),
        "the forged request kept its Authentication-Results"
    );

    // Exactly one mail each to the stranger and, about the forged request, to the provider.
    let to_stranger =
        matching(&stack, CATCHALL, |m| m.is_to(STRANGER) && m.subject.contains(&stranger_token))
            .await;
    assert_eq!(to_stranger.len(), 1, "one mail to the stranger: {to_stranger:#?}");
    let about_forged = matching(&stack, PROVIDER, |m| m.subject.contains(&forged_token)).await;
    assert_eq!(about_forged.len(), 1, "one mail about the forged request: {about_forged:#?}");
    // N2 heard only of the registered provider's case.
    for token in [&stranger_token, &forged_token] {
        let to_n2 = matching(&stack, N2, |m| {
            m.subject.contains(token.as_str()) || m.shown().contains(token.as_str())
        })
        .await;
        assert!(to_n2.is_empty(), "N2 got mail about a rejected sender: {to_n2:#?}");
    }

    // Both rejected messages are kept on the `rechazado` channel, closed at N1; the provider's
    // case is not among them.
    let listed = rejected_cases(&daemon);
    for number in [&stranger_case, &forged_case] {
        let row =
            listed.iter().find(|c| c["number"].as_str() == Some(number.as_str())).unwrap_or_else(
                || panic!("{number} is not in case list --canal rechazado: {listed:#?}"),
            );
        assert_eq!(
            (field(row, "status"), field(row, "level"), field(row, "channel")),
            ("cerrado", "n1", "rechazado"),
            "{row:#}"
        );
    }
    assert!(
        listed.iter().all(|c| c["number"].as_str() != Some(provider_case.as_str())),
        "the registered provider's case is not rejected: {listed:#?}"
    );
    assert_eq!(listed.len(), 2, "{listed:#?}");
}

#[tokio::test]
async fn a_problem_with_five_children_teaches_the_desk_a_known_error() {
    let stack = Stack::from_env();
    let daemon = start_desk(&stack, "t-registro-problema").await;
    let token = unique("problema");

    // Six facturadores of the registered provider report the same unknown rule.
    let requests: Vec<(String, String)> = (0..6)
        .map(|n| (facturador(n), format!("{token}.solicitud{n}@facturadores.test")))
        .collect();
    for (n, (from, id)) in requests.iter().enumerate() {
        smtp_send(&stack, from, ALIADOS, &rule_request(from, n, &token, id)).await;
    }
    let cases = daemon
        .wait_for_cases(WAIT, |cases| {
            cases.iter().filter(|c| c.subject.contains(&token) && c.status == "en_atencion").count()
                == 6
        })
        .await;
    let ours: Vec<_> = cases.iter().filter(|c| c.subject.contains(&token)).collect();
    assert_eq!(
        ours.iter().filter(|c| c.status == "en_atencion" && c.level == "n2").count(),
        6,
        "six cases at N2: {ours:#?}\n{}",
        daemon.log()
    );
    let numbers: Vec<String> = (0..6)
        .map(|n| {
            let document = format!("SETP{n:05}");
            ours.iter().find(|c| c.subject.contains(&document)).expect("case").number.clone()
        })
        .collect();
    let parent = numbers[0].clone();
    for child in &numbers[1..] {
        cli(&daemon, &["case", "link", child, &parent, "--agente", N2]);
    }
    wait_case(&daemon, &parent, "5 children", |d| {
        d["children"].as_array().is_some_and(|c| c.len() == 5)
    })
    .await;

    // The N2 agent works the parent by mail: a problema, its root cause, its workaround.
    let parent_note = wait_mail(&stack, &daemon, N2, "notificación del padre", |m| {
        m.subject.contains(&token) && m.subject.contains(&format!("[{parent}]"))
    })
    .await;
    answer(&stack, N2, "Agente N2", &parent_note, "#tipo problema").await;
    wait_case(&daemon, &parent, "a problema", |d| field(d, "case_type") == "problema").await;
    let cause = "El validador de la DIAN no tiene el grupo de impuestos ICUI en su catálogo.";
    answer(&stack, N2, "Agente N2", &parent_note, &format!("#causa\n{cause}")).await;
    wait_case(&daemon, &parent, "the root cause", |d| field(d, "root_cause") == cause).await;
    let workaround = "Envíe el grupo de impuestos ICUI con tarifa 0 mientras la DIAN actualiza el \
                      validador.";
    answer(&stack, N2, "Agente N2", &parent_note, &format!("#solucion\n{workaround}")).await;

    // Each of the six requesters gets the workaround on his own thread.
    for ((address, request_id), number) in requests.iter().zip(&numbers) {
        let got = wait_mail(&stack, &daemon, CATCHALL, &format!("solución a {address}"), |m| {
            m.is_to(address) && m.is_kind("solucion")
        })
        .await;
        assert!(got.text.contains(workaround), "{address} gets the workaround:\n{}", got.text);
        assert_eq!(got.in_reply_to, vec![request_id.clone()], "{address}: on his own thread");
        assert!(got.subject.contains(&format!("[{number}]")), "{address}: {}", got.subject);
    }

    // The coordinator of the tema's N2 group gets the proposal naming the rule.
    let proposal = wait_mail(&stack, &daemon, CATCHALL, "propuesta de error conocido", |m| {
        m.is_to(COORDINATOR) && m.is_kind("propuesta_error_conocido")
    })
    .await;
    assert!(proposal.subject.contains(&format!("[{parent}]")), "{}", proposal.subject);
    assert!(proposal.text.contains(RULE), "the proposal names {RULE}:\n{}", proposal.text);
    assert!(proposal.text.contains(workaround), "it carries the answer:\n{}", proposal.text);
    assert!(proposal.text.contains(cause), "it carries the root cause:\n{}", proposal.text);
    assert!(
        proposal.text.contains("#aprobar-error-conocido"),
        "it says how to approve:\n{}",
        proposal.text
    );
    let solved =
        wait_case(&daemon, &parent, "the parent solved", |d| field(d, "status") == "solucionado")
            .await;
    assert_eq!(field(&solved, "case_type"), "problema");

    // Not approved yet: nothing is learned.
    let guide = cli(&daemon, &["kb", "export", "--formato", "csv"]);
    assert!(!guide.contains(RULE), "{RULE} is in the guide before its approval:\n{guide}");

    // The coordinator approves by answering the proposal.
    let approval_id = format!("{token}.aprobacion@dian.gov.co");
    let mut approval = vouched_header(COORDINATOR).into_bytes();
    approval.extend(
        Letter {
            from: COORDINATOR,
            name: "Coordinación Factura",
            to: ALIADOS,
            subject: &format!("RE: {}", proposal.subject),
            message_id: &approval_id,
            reply_to: Some(&proposal.message_id),
            body: "#aprobar-error-conocido\nDe acuerdo, que responda en primer contacto.",
            headers: "",
            xml: false,
        }
        .bytes(),
    );
    smtp_send(&stack, COORDINATOR, ALIADOS, &approval).await;
    wait_case(&daemon, &parent, "the approval", |d| {
        has_event(d, |detail| detail.contains("Error conocido aprobado"))
    })
    .await;

    // A new requester with the same rule is answered at first contact with the workaround.
    let newcomer = facturador(6);
    let new_id = format!("{token}.nuevo@facturadores.test");
    let new_token = format!("{token}-nuevo");
    smtp_send(&stack, &newcomer, ALIADOS, &rule_request(&newcomer, 6, &new_token, &new_id)).await;
    let known = wait_mail(&stack, &daemon, CATCHALL, "respuesta de error conocido", |m| {
        m.is_to(&newcomer) && m.answers(&new_id)
    })
    .await;
    assert!(
        known.is_kind("respuesta_error_conocido"),
        "a known-error answer at first contact, not {}:\n{}",
        known.kind(),
        known.text
    );
    assert!(known.text.contains(workaround), "it carries the workaround:\n{}", known.text);
    assert!(known.text.contains(RULE), "it names the rule:\n{}", known.text);
    let new_case = case_number(&known.subject);
    assert!(!numbers.contains(&new_case), "a new case: {new_case}");
    let detail = wait_outbox_drained(&daemon, &new_case).await;
    assert_eq!(
        (field(&detail, "status"), field(&detail, "level")),
        ("solucionado", "n1"),
        "solved at first contact: {detail:#}"
    );
    assert_eq!(
        outbox_kinds(&detail),
        vec!["respuesta_error_conocido"],
        "no agent is notified of it"
    );
    let to_n2 = matching(&stack, N2, |m| m.subject.contains(&new_token)).await;
    assert!(to_n2.is_empty(), "N2 got mail about the answered case: {to_n2:#?}");

    // The Contact Center's guide has it.
    let guide = cli(&daemon, &["kb", "export", "--formato", "csv"]);
    assert!(guide.contains(RULE), "{RULE} is in kb export --formato csv:\n{guide}");
    assert!(guide.contains(workaround), "the guide has the workaround:\n{guide}");
}
