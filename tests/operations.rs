//! The daemon as operators run it, against the real Dovecot of deploy/dev/mailstack.sh:
//! reloading on SIGHUP, health and metrics over HTTP, and what its logs may say.

mod common;

use std::time::Duration;

use common::{Daemon, Stack, buzon_toml, request};

const BUZON: &str = "sd_facturaelectronica@dian.gov.co";

/// One buzón over loopback IMAP and the N2 groups staffed by `agent` only.
fn config(stack: &Stack, folder: &str, agent: &str) -> String {
    format!(
        "{}\n[[agentes]]\ncorreo = \"{agent}\"\nnombre = \"Agente\"\nnivel = \"n2\"\n\
         grupos = [\"n2_factura\", \"n2_radian\", \"n2_nomina\", \"n2_documento_soporte\", \
         \"n2_habilitacion\", \"n2_facturador_gratuito\", \"seguridad\"]\nactivo = true\n",
        buzon_toml(stack, "facturaelectronica", BUZON, folder, "")
    )
}

/// The provider's complete request (fixture 01: description, NIT, document, XML), made unique:
/// it is assigned to an N2 agent at once.
fn complete_request(n: usize, tag: &str) -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/mail/01_proveedor_zip_attacheddocument.eml"
    );
    let text = String::from_utf8(std::fs::read(path).expect("fixture")).expect("UTF-8 fixture");
    text.replacen(
        "Message-ID: <20261126091502.4821.soporte@andinas-contables.example>",
        &format!("Message-ID: <{tag}.{n}@andinas-contables.example>"),
        1,
    )
    .into_bytes()
}

#[tokio::test]
async fn sighup_keeps_the_old_config_when_the_new_one_is_broken_and_applies_a_good_one() {
    let stack = Stack::from_env();
    let folder = "OpsReload";
    stack.fresh_folders(BUZON, &[folder, "OpsReload-ok"]).await;
    let mut daemon = Daemon::new(&config(&stack, folder, "ana.n2@fe.test"));
    daemon.start();
    assert!(
        daemon.wait_for_log("conectado al buzón", 1, Duration::from_secs(20)).await,
        "{}",
        daemon.log()
    );

    daemon.rewrite_config("[general\nesto no es TOML");
    daemon.signal("HUP");
    assert!(
        daemon.wait_for_log("configuración nueva rechazada", 1, Duration::from_secs(10)).await,
        "{}",
        daemon.log()
    );
    stack.append(BUZON, folder, &[complete_request(1, "ops-reload")]).await;
    let cases = daemon.wait_for_cases(Duration::from_secs(20), |c| c.len() == 1).await;
    assert_eq!(cases.len(), 1, "the daemon still works after a refused reload\n{}", daemon.log());
    assert_eq!(cases[0].agent.as_deref(), Some("ana.n2@fe.test"));

    daemon.rewrite_config(&config(&stack, folder, "luis.n2@fe.test"));
    daemon.signal("HUP");
    assert!(
        daemon.wait_for_log("recargados", 1, Duration::from_secs(10)).await,
        "{}",
        daemon.log()
    );
    stack.append(BUZON, folder, &[complete_request(2, "ops-reload")]).await;
    let cases = daemon.wait_for_cases(Duration::from_secs(20), |c| c.len() == 2).await;
    assert_eq!(cases.len(), 2, "{}", daemon.log());
    assert_eq!(
        cases[1].agent.as_deref(),
        Some("luis.n2@fe.test"),
        "the new agent takes the next case"
    );
    assert_eq!(
        daemon.log().matches("conectado al buzón").count(),
        1,
        "the IMAP session survives the reloads\n{}",
        daemon.log()
    );
    assert!(daemon.terminate().success());
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::Client::new().get(url).send().await.expect("HTTP GET");
    (response.status().as_u16(), response.text().await.expect("body"))
}

/// Polls `/readyz` until its status is `wanted`, up to `limit`.
async fn wait_ready(base: &str, wanted: u16, limit: Duration) -> (u16, String) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let (status, body) = get(&format!("{base}/readyz")).await;
        if status == wanted || std::time::Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn mailstack(command: &str) {
    let status = std::process::Command::new("bash")
        .args(["deploy/dev/mailstack.sh", command])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .status()
        .expect("mailstack.sh");
    assert!(status.success(), "mailstack.sh {command}");
}

#[tokio::test]
async fn readyz_turns_unready_while_dovecot_is_down_and_ready_when_it_is_back() {
    let stack = Stack::from_env();
    let folder = "OpsReady";
    stack.fresh_folders(BUZON, &[folder, "OpsReady-ok"]).await;
    let mut daemon = Daemon::new(&config(&stack, folder, "ana.n2@fe.test"));
    daemon.start();
    let base = daemon.http_base().await;
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200);
    let (status, body) = wait_ready(&base, 200, Duration::from_secs(20)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"conectado\""), "{body}");

    mailstack("stop-dovecot");
    let (status, body) = wait_ready(&base, 503, Duration::from_secs(30)).await;
    mailstack("start");
    assert_eq!(status, 503, "unready while Dovecot is down: {body}");
    assert!(body.contains("\"desconectado\"") && body.contains("facturaelectronica"), "{body}");
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200, "alive all the same");

    let (status, body) = wait_ready(&base, 200, Duration::from_secs(60)).await;
    assert_eq!(status, 200, "ready again once Dovecot is back: {body}\n{}", daemon.log());
    assert!(daemon.terminate().success());
}

/// The value of one sample line of the metrics text (0 when absent).
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l[series.len()..].trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_count_what_was_ingested_and_the_case_api_wants_its_token() {
    let stack = Stack::from_env();
    let folder = "OpsMetrics";
    stack.fresh_folders(BUZON, &[folder, "OpsMetrics-ok"]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("api.token");
    std::fs::write(&token_file, "token-de-prueba-123\n").expect("token file");
    let extra = format!("\n[http]\ntoken_api = {{ archivo = \"{}\" }}\n", token_file.display());
    let mut daemon = Daemon::new(&(config(&stack, folder, "ana.n2@fe.test") + &extra));
    daemon.start();
    let base = daemon.http_base().await;
    let processed = "mesa_fe_mensajes{buzon=\"facturaelectronica\",estado=\"procesado\"}";
    let before = get(&format!("{base}/metrics")).await.1;
    assert_eq!(sample(&before, processed), 0.0, "{before}");

    let messages: Vec<Vec<u8>> = (1..=3).map(|n| request(n, "ops-metrics")).collect();
    stack.append(BUZON, folder, &messages).await;
    assert_eq!(daemon.wait_for_cases(Duration::from_secs(20), |c| c.len() == 3).await.len(), 3);
    let after = get(&format!("{base}/metrics")).await.1;
    assert_eq!(sample(&after, processed), 3.0, "{after}");
    assert_eq!(sample(&after, "mesa_fe_ingesta_segundos_count"), 3.0, "{after}");
    assert_eq!(sample(&after, "mesa_fe_casos_por_canal_total{canal=\"correo\"}"), 3.0, "{after}");
    assert_eq!(sample(&after, "mesa_fe_buzon_conectado{buzon=\"facturaelectronica\"}"), 1.0);
    let opened: f64 = after
        .lines()
        .filter(|l| l.starts_with("mesa_fe_casos_abiertos_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(opened, 3.0, "{after}");

    let client = reqwest::Client::new();
    let anonymous = client.get(format!("{base}/api/casos")).send().await.expect("GET");
    assert_eq!(anonymous.status().as_u16(), 401);
    let cases: serde_json::Value = client
        .get(format!("{base}/api/casos"))
        .bearer_auth("token-de-prueba-123")
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .map(|body| serde_json::from_str(&body).expect("JSON"))
        .expect("body");
    let numbers: Vec<&str> =
        cases.as_array().expect("list").iter().filter_map(|c| c["number"].as_str()).collect();
    assert_eq!(numbers.len(), 3, "{cases}");
    let one = client
        .get(format!("{base}/api/casos/{}", numbers[0]))
        .bearer_auth("token-de-prueba-123")
        .send()
        .await
        .expect("GET");
    assert_eq!(one.status().as_u16(), 200);
    let detail: serde_json::Value =
        serde_json::from_str(&one.text().await.expect("body")).expect("JSON");
    assert_eq!(detail["number"], numbers[0]);
    assert!(daemon.terminate().success());
}

#[tokio::test]
async fn the_info_log_of_an_end_to_end_run_has_no_address_nit_or_body_text() {
    let stack = Stack::from_env();
    let folder = "OpsPrivacy";
    stack.fresh_folders(BUZON, &[folder, "OpsPrivacy-ok"]).await;
    let smtp: u16 =
        std::env::var("MESA_FE_MAILSTACK_SMTP_PORT").expect("SMTP port").parse().expect("port");
    let smtp_toml = format!(
        "[buzones.smtp]\nservidor = \"{}\"\npuerto = {smtp}\ntls = \"ninguno\"\n",
        stack.host
    );
    let mut toml = config(&stack, folder, "agente.n2@fe.test");
    // The SMTP table belongs to the buzón: it goes right after its IMAP table.
    toml = toml.replacen("\n[[agentes]]", &format!("\n{smtp_toml}\n[[agentes]]"), 1);
    let mut daemon = Daemon::new(&toml);
    daemon.start();
    let message = "From: Rosa Privada <rosa.privada@contribuyente-privado.test>\r\n\
         To: sd_facturaelectronica@dian.gov.co\r\nSubject: Consulta sobre la factura PRIV0042\r\n\
         Date: Thu, 26 Nov 2026 10:00:00 -0500\r\nMessage-ID: <privacidad.1@contribuyente-privado.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Buenos dias, tenemos una consulta sobre la factura PRIV0042 del NIT 901234567-8: \
         no sabemos si el adquiriente la recibio. La frase secreta del cuerpo es girasol-azul-lunes.\r\n";
    stack.append(BUZON, folder, &[message.as_bytes().to_vec()]).await;
    assert_eq!(daemon.wait_for_cases(Duration::from_secs(20), |c| c.len() == 1).await.len(), 1);
    assert!(
        daemon.wait_for_log("correo enviado", 2, Duration::from_secs(30)).await,
        "the acknowledgement and the agent's notification go out\n{}",
        daemon.log()
    );
    assert!(daemon.terminate().success());
    let log = daemon.log();
    for secret in [
        "rosa.privada",
        "contribuyente-privado",
        "agente.n2@fe.test",
        "sd_facturaelectronica@",
        "901234567",
        "girasol-azul-lunes",
        "Rosa Privada",
        "PRIV0042",
    ] {
        assert!(!log.contains(secret), "the log shows «{secret}»:\n{log}");
    }
    assert!(log.contains("caso abierto"), "the log still says what happened:\n{log}");
}

#[tokio::test]
async fn systemd_hears_ready_status_watchdog_reload_and_stopping() {
    let stack = Stack::from_env();
    let folder = "OpsNotify";
    stack.fresh_folders(BUZON, &[folder, "OpsNotify-ok"]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).expect("bind");
    socket.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let mut daemon = Daemon::new(&config(&stack, folder, "ana.n2@fe.test"));
    let socket_text = socket_path.display().to_string();
    daemon.start_with_env(&[("NOTIFY_SOCKET", socket_text.as_str()), ("WATCHDOG_USEC", "2000000")]);
    let mut heard: Vec<String> = Vec::new();
    let listen = |until: &str, heard: &mut Vec<String>| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut buffer = [0u8; 4096];
        while std::time::Instant::now() < deadline && !heard.iter().any(|m| m.contains(until)) {
            if let Ok(n) = socket.recv(&mut buffer) {
                heard.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
            }
        }
    };
    listen("READY=1", &mut heard);
    listen("STATUS=vigilando 1 buzones", &mut heard);
    listen("WATCHDOG=1", &mut heard);
    daemon.signal("HUP");
    listen("RELOADING=1", &mut heard);
    let readies = heard.iter().filter(|m| m.as_str() == "READY=1").count();
    assert_eq!(readies, 1, "{heard:?}");
    daemon.signal("TERM");
    listen("STOPPING=1", &mut heard);
    for expected in
        ["READY=1", "STATUS=vigilando 1 buzones", "WATCHDOG=1", "RELOADING=1", "STOPPING=1"]
    {
        assert!(heard.iter().any(|m| m.contains(expected)), "{expected} missing: {heard:?}");
    }
    assert!(daemon.terminate().success());
}

/// A daemon on a fresh `folder` whose buzón sends through the stack's SMTP server.
async fn sending_daemon(stack: &Stack, folder: &str) -> Daemon {
    stack.fresh_folders(BUZON, &[folder, &format!("{folder}-ok")]).await;
    let smtp: u16 =
        std::env::var("MESA_FE_MAILSTACK_SMTP_PORT").expect("SMTP port").parse().expect("port");
    let smtp_toml = format!(
        "[buzones.smtp]\nservidor = \"{}\"\npuerto = {smtp}\ntls = \"ninguno\"\n",
        stack.host
    );
    let toml = config(stack, folder, "agente.n2@fe.test").replacen(
        "\n[[agentes]]",
        &format!("\n{smtp_toml}\n[[agentes]]"),
        1,
    );
    Daemon::new(&toml)
}

#[tokio::test]
async fn an_outbox_worker_that_panics_is_restarted_counted_and_still_sends() {
    let stack = Stack::from_env();
    let folder = "OpsSupervise";
    let mut daemon = sending_daemon(&stack, folder).await;
    // Debug builds only: the worker panics once, in the round that holds the first mail.
    daemon.start_with_env(&[("MESA_FE_PRUEBA_PANICO_COLA_SALIDA", "tarea")]);
    let base = daemon.http_base().await;
    let restarts = "mesa_fe_tareas_reiniciadas_total{tarea=\"cola_salida\"}";
    let first = get(&format!("{base}/metrics")).await.1;
    assert!(first.lines().any(|l| l == format!("{restarts} 0")), "present at 0: {first}");
    let (status, body) = wait_ready(&base, 200, Duration::from_secs(20)).await;
    assert_eq!(status, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(ready["cola_salida"]["en_marcha"], true, "{body}");

    stack.append(BUZON, folder, &[request(1, "ops-supervise")]).await;
    assert_eq!(daemon.wait_for_cases(Duration::from_secs(20), |c| c.len() == 1).await.len(), 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut metrics = String::new();
    while std::time::Instant::now() < deadline {
        metrics = get(&format!("{base}/metrics")).await.1;
        if sample(&metrics, restarts) >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sample(&metrics, restarts), 1.0, "{metrics}\n{}", daemon.log());

    let (status, body) = wait_ready(&base, 200, Duration::from_secs(30)).await;
    assert_eq!(status, 200, "ready again once the worker runs: {body}\n{}", daemon.log());
    let ready: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(ready["tareas"]["cola_salida"]["estado"], "en_marcha", "{body}");
    assert_eq!(ready["cola_salida"]["en_marcha"], true, "{body}");
    assert!(
        daemon.wait_for_log("correo enviado", 1, Duration::from_secs(30)).await,
        "the mail the worker panicked on still goes out\n{}",
        daemon.log()
    );
    let log = daemon.log();
    assert_eq!(log.matches("tarea_reiniciada").count(), 1, "{log}");
    assert!(log.contains("fallo interno (pánico)"), "the panic goes through the log: {log}");
    assert!(!log.contains("panicked at"), "not raw to stderr: {log}");
    assert!(daemon.terminate().success());
    for secret in ["proveedor1@", "agente.n2@fe.test", "sd_facturaelectronica@"] {
        assert!(!daemon.log().contains(secret), "the log shows «{secret}»:\n{}", daemon.log());
    }
}

/// A mail whose dispatch panics must not stop the queue: the worker would take the same row first
/// after every restart and send nothing else. That row fails for good, with a reason the operator
/// reads in `outbox list`; the next mail goes out and the worker is never restarted.
#[tokio::test]
async fn a_mail_that_panics_fails_alone_and_the_queue_goes_on() {
    let stack = Stack::from_env();
    let folder = "OpsPanicRow";
    let mut daemon = sending_daemon(&stack, folder).await;
    daemon.start_with_env(&[("MESA_FE_PRUEBA_PANICO_COLA_SALIDA", "fila")]);
    let base = daemon.http_base().await;
    stack.append(BUZON, folder, &[request(1, "ops-panic-row")]).await;
    assert_eq!(daemon.wait_for_cases(Duration::from_secs(20), |c| c.len() == 1).await.len(), 1);
    assert!(
        daemon.wait_for_log("panico_envio", 1, Duration::from_secs(30)).await,
        "the panic is logged as its own event\n{}",
        daemon.log()
    );
    stack.append(BUZON, folder, &[request(2, "ops-panic-row")]).await;
    assert!(
        daemon.wait_for_log("correo enviado", 1, Duration::from_secs(30)).await,
        "the next mail still goes out\n{}",
        daemon.log()
    );
    let listed = daemon.cli(&["outbox", "list", "--json"]);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).expect("JSON");
    let failed: Vec<&serde_json::Value> =
        rows.iter().filter(|r| r["status"] == "fallo_permanente").collect();
    assert_eq!(failed.len(), 1, "{rows:?}");
    let reason = failed[0]["last_error"].as_str().unwrap_or_default();
    assert!(reason.contains("fallo interno (pánico)"), "{reason}");
    assert!(rows.iter().any(|r| r["status"] == "enviado"), "{rows:?}");
    let metrics = get(&format!("{base}/metrics")).await.1;
    let restarts = "mesa_fe_tareas_reiniciadas_total{tarea=\"cola_salida\"}";
    assert_eq!(sample(&metrics, restarts), 0.0, "the worker itself never stopped: {metrics}");
    assert!(daemon.terminate().success());
}
