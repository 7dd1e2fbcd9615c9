//! Agent notifications in a burst, end to end against the real Postfix + Dovecot of
//! deploy/dev/mailstack.sh: past `[notificaciones] resumen_desde` within a minute they reach the
//! agent as one digest, and every case is in the agent's INBOX exactly once.

mod common;

use std::time::{Duration, Instant};

use common::mail::{
    case_number, clear_inbox, inbox, smtp_port, smtp_send, undelivered_invoice_request, unique,
};
use common::{Daemon, Stack};

const ALIADOS: &str = "sd_fistrib_fe_aliados@dian.gov.co";
const PROVIDER: &str = "proveedor1@pt.test";
const N2: &str = "agente.n2@fe.test";
const N2_GROUPS: &str = "[\"n2_factura\", \"n2_radian\", \"n2_nomina\", \"n2_documento_soporte\", \
                         \"n2_habilitacion\", \"n2_facturador_gratuito\"]";
const REQUESTS: usize = 6;
/// A held digest waits for the agent's minute to pass: longer than the usual patience.
const PATIENCE: Duration = Duration::from_secs(150);

fn config(stack: &Stack, processed: &str) -> String {
    format!(
        "[[buzones]]\nnombre = \"aliados\"\ndireccion = \"{ALIADOS}\"\ncanal = \"correo\"\n\
         [buzones.imap]\nservidor = \"{host}\"\npuerto = {imap}\ntls = \"ninguno\"\nusuario = \"{ALIADOS}\"\n\
         autenticacion = \"contrasena\"\ncontrasena = {{ variable = \"MESA_FE_MAILSTACK_PASSWORD\" }}\n\
         carpeta = \"INBOX\"\ncarpeta_procesados = \"{processed}\"\nintervalo_sondeo_segundos = 2\n\
         [buzones.smtp]\nservidor = \"{host}\"\npuerto = {smtp}\ntls = \"ninguno\"\n\n\
         [notificaciones]\nresumen_desde = 2\n\n\
         [[agentes]]\ncorreo = \"{N2}\"\nnombre = \"Agente N2\"\nnivel = \"n2\"\ngrupos = {N2_GROUPS}\nactivo = true\n",
        host = stack.host,
        imap = stack.imap_port,
        smtp = smtp_port(),
    )
}

#[tokio::test]
async fn a_burst_of_notifications_reaches_the_agent_as_a_digest_and_each_case_once() {
    let stack = Stack::from_env();
    for user in [ALIADOS, PROVIDER, N2] {
        clear_inbox(&stack, user).await;
    }
    let processed = unique("digest-processed");
    stack.fresh_folders(ALIADOS, &[&processed]).await;
    let mut daemon = Daemon::new(&config(&stack, &processed));
    let token = unique("digest");
    for n in 0..REQUESTS {
        let raw = undelivered_invoice_request(
            PROVIDER,
            "Proveedor Uno",
            ALIADOS,
            &token,
            &format!("FV{n:04}"),
            &format!("{token}.{n}@pt.test"),
            "",
        );
        smtp_send(&stack, PROVIDER, ALIADOS, &raw).await;
    }
    daemon.start();
    let acks = wait_for(&stack, PROVIDER, REQUESTS, |s| s.contains(&token)).await;
    let cases: Vec<String> = acks.iter().map(|s| case_number(s)).collect();
    let deadline = Instant::now() + PATIENCE;
    let (alone, digests) = loop {
        let mail = inbox(&stack, N2).await;
        let alone: Vec<String> = mail
            .iter()
            .filter(|m| m.is_kind("notificacion_agente"))
            .map(|m| case_number(&m.subject))
            .collect();
        let digests: Vec<String> = mail
            .iter()
            .filter(|m| m.is_kind("resumen_notificaciones"))
            .map(|m| m.text.clone())
            .collect();
        let listed = |case: &String| {
            alone.contains(case) || digests.iter().any(|text| text.contains(case.as_str()))
        };
        if cases.iter().all(listed) || Instant::now() > deadline {
            break (alone, digests);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(!digests.is_empty(), "a digest came; alone: {alone:?}\nlog:\n{}", daemon.log());
    assert!(alone.len() >= 2, "the first two still came alone, to be answered: {alone:?}");
    assert!(alone.len() + digests.len() < REQUESTS, "fewer mails than notifications");
    for case in &cases {
        let times = alone.iter().filter(|c| *c == case).count()
            + digests.iter().filter(|text| text.contains(case.as_str())).count();
        assert_eq!(times, 1, "{case} reaches the agent exactly once: {alone:?} {digests:#?}");
    }
}

/// The subjects of `count` mails in `user`'s INBOX that `pred` accepts, waiting for them.
async fn wait_for(
    stack: &Stack,
    user: &str,
    count: usize,
    pred: impl Fn(&str) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let subjects: Vec<String> =
            inbox(stack, user).await.into_iter().map(|m| m.subject).filter(|s| pred(s)).collect();
        if subjects.len() >= count || Instant::now() > deadline {
            assert_eq!(subjects.len(), count, "{user}: {subjects:?}");
            return subjects;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
