//! `mesa-fe reporte`, the service-level report: requests of several temas ingested through the
//! real pipeline into a real SQLite store, worked by agents through the CLI actions (one solved
//! at N2, one escalated to N3 and solved there, one sent to Administración Técnica, one answered
//! at first contact by a known error), then the report for today as the library builds it and as
//! the binary prints it.

mod common;

use chrono::{Duration, NaiveDate, Utc};
use common::local::{Fixture, Host, always_open, fixture, fixture_path, sample, text};
use mesa_fe::desk::Level;
use mesa_fe::desk::command::{Action, Command};
use mesa_fe::desk::report::{Dimension, Period, Report};
use mesa_fe::pipeline::{Decision, Outcome};

const N2: &str = "ana.rojas@dian.gov.co";
const N3: &str = "jorge.salazar@dian.gov.co";

/// The desk's dates of yesterday and today (Colombia, UTC-5): a period that holds the cases
/// created during the test even if the desk's midnight passes meanwhile.
fn yesterday_and_today(offset_hours: i32) -> (NaiveDate, NaiveDate) {
    let today = Period::today(Utc::now(), offset_hours).expect("today");
    (today - Duration::days(1), today)
}

/// The requests of the test and what the desk does with each on arrival.
const REQUESTS: [(&str, Decision); 9] = [
    ("01_proveedor_zip_attacheddocument.eml", Decision::NewCase), // factura → N2
    ("06_iso8859_qp_nota_credito.eml", Decision::NewCase),        // factura → N2
    ("07_asunto_rfc2047_documento_soporte.eml", Decision::NewCase),
    ("08_evento_seguridad_acceso_no_autorizado.eml", Decision::NewCase), // otro, seguridad
    ("09_radian_aceptacion_expresa.eml", Decision::NewCase),
    ("10_nomina_con_xml.eml", Decision::NewCase),
    ("11_facturador_gratuito_pantallazo.eml", Decision::NewCase),
    ("12_habilitacion_set_de_pruebas.eml", Decision::RequestInformation), // stays at N1
    ("16_respuesta_dian_rechazo_independiente.eml", Decision::KnownErrorAnswer), // first contact
];

impl Fixture {
    /// The desk's offset from UTC, as configured.
    fn offset_hours(&self) -> i32 {
        self.desk.config.zone().offset_hours(chrono::Utc::now())
    }

    /// Ingests [`REQUESTS`]; returns the case numbers in the same order.
    async fn open_requests(&self) -> Vec<String> {
        let mut numbers = Vec::new();
        for (name, expected) in REQUESTS {
            match self.ingest(&sample(&format!("mail/{name}"))).await {
                Outcome::Opened { case, decision, .. } => {
                    assert_eq!(decision, expected, "{name}");
                    numbers.push(case);
                }
                other => panic!("{name}: expected a new case, got {other:?}"),
            }
        }
        numbers
    }

    async fn act(&self, number: &str, agent: &str, command: Command, text: &str) {
        let action = Action { command, text: text.into() };
        let outcome = self.desk.act_by_cli(&self.store, number, agent, &action).await.expect("act");
        assert_eq!(outcome.refusal, None, "{action:?} by {agent} on {number} was refused");
    }

    /// 01 solved at N2; 06 diagnosed, escalated to N3 and solved there; 07 diagnosed and taken
    /// up to Administración Técnica, still open.
    async fn work(&self, numbers: &[String]) {
        let (n2_solved, n3_solved, at_csat) = (&numbers[0], &numbers[1], &numbers[2]);
        self.act(n2_solved, N2, Command::Solucion { first_contact: false }, "Corrija el NIT.")
            .await;
        self.act(n3_solved, N2, Command::Nota, "Diagnóstico: el CUDE no corresponde.").await;
        self.act(n3_solved, N2, Command::Escalar, "Revisión de nivel 3").await;
        self.act(n3_solved, N3, Command::Solucion { first_contact: false }, "Reenvíe la nota.")
            .await;
        self.act(at_csat, N2, Command::Nota, "Diagnóstico: el servicio responde 500.").await;
        self.act(at_csat, N2, Command::Escalar, "Revisión de nivel 3").await;
        self.act(at_csat, N3, Command::Escalar, "Falla del servicio de recepción").await;
    }

    async fn report(&self, from: NaiveDate, to: NaiveDate) -> Report {
        let period = Period::new(from, to, self.offset_hours()).expect("period");
        let rows = self.store.report_rows(period.start, period.end).await.expect("rows");
        Report::build(period, period.local(Utc::now()), &rows)
    }
}

fn counts(report: &Report, dimension: Dimension) -> Vec<(&'static str, u64)> {
    let table = report.breakdown(dimension).expect("table");
    table.counts.iter().map(|c| (c.key, c.cases)).collect()
}

#[tokio::test]
async fn the_report_counts_what_the_desk_did_today() {
    let f = fixture(|_| {}).await;
    let numbers = f.open_requests().await;
    f.work(&numbers).await;
    let (yesterday, today) = yesterday_and_today(f.offset_hours());
    let report = f.report(yesterday, today).await;

    assert_eq!(report.total_cases, 9);
    assert_eq!(report.mass_incident_children, 0);
    assert_eq!(
        counts(&report, Dimension::Tema),
        vec![
            ("factura_electronica", 3),
            ("documento_soporte", 1),
            ("nomina_electronica", 1),
            ("radian", 1),
            ("facturador_gratuito", 1),
            ("habilitacion", 1),
            ("otro", 1),
        ]
    );
    assert_eq!(
        counts(&report, Dimension::Canal),
        vec![("correo", 9), ("aranda", 0), ("pqsr", 0), ("rechazado", 0)]
    );
    assert_eq!(
        counts(&report, Dimension::Estado),
        vec![
            ("nuevo", 0),
            ("pendiente_informacion", 1),
            ("en_atencion", 4),
            ("escalado", 1),
            ("solucionado", 3),
            ("cerrado", 0),
        ]
    );
    assert_eq!(
        counts(&report, Dimension::NivelMaximo),
        vec![("n1", 2), ("n2", 5), ("n3", 1), ("administracion_tecnica", 1)],
        "N1: the known error and the request waiting for information"
    );

    // The known error (fixture 16) is the only case solved at first contact: 1 of 9.
    assert_eq!((report.first_contact.cases, report.first_contact.of), (1, 9));
    assert_eq!(report.first_contact.percent, Some(11.1));

    // One first solution per level; nobody solved at Administración Técnica yet.
    let solutions: Vec<(Level, u64)> =
        report.solution_times.by_level.iter().map(|t| (t.level, t.cases)).collect();
    assert_eq!(
        solutions,
        vec![(Level::N1, 1), (Level::N2, 1), (Level::N3, 1), (Level::AdministracionTecnica, 0)]
    );
    let at_csat = &report.solution_times.by_level[3];
    assert_eq!(at_csat.median_hours, None, "sin datos");
    assert_eq!(report.solution_times.overall.cases, 3);
    let median = report.solution_times.overall.median_hours.expect("a median");
    assert!((0.0..1.0).contains(&median), "solved within the test: {median} h");

    // Without breaches every level complies; the cases that reached each level.
    let sla: Vec<(Level, u64, u64, Option<f64>)> =
        report.sla.iter().map(|s| (s.level, s.cases, s.compliant, s.compliance_percent)).collect();
    assert_eq!(
        sla,
        vec![
            (Level::N2, 7, 7, Some(100.0)),
            (Level::N3, 2, 2, Some(100.0)),
            (Level::AdministracionTecnica, 1, 1, Some(100.0)),
        ]
    );

    let md = report.to_markdown();
    assert!(md.contains("| Factura electrónica de venta | 3 | 33,3 % |"), "{md}");
    assert!(md.contains("| Solucionados en primer contacto | 1 (11,1 %) |"), "{md}");
    assert!(md.contains("| Administración Técnica | 0 | sin datos |"), "{md}");

    // A period before the cases were created has none of them.
    let past = f.report(yesterday - Duration::days(40), yesterday - Duration::days(10)).await;
    assert_eq!(past.total_cases, 0);
    assert_eq!(past.first_contact.percent, None);
    assert!(past.sla.iter().all(|s| s.cases == 0));
}

#[tokio::test]
async fn breaches_recorded_by_the_sla_sweep_lower_compliance_at_their_level() {
    // Every hour is working time and N2's first response is due one second after arrival.
    let f = fixture(|config| {
        always_open(config);
        config.sla.n2.first_response_hours = 1.0 / 3600.0;
        config.sla.n2.resolution_hours = 1000.0;
    })
    .await;
    let numbers = f.open_requests().await;
    f.work(&numbers).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // The four cases still waiting at N2 (08, 09, 10, 11) miss their first response; 01, 06 and
    // 07 left N2 before the sweep.
    assert_eq!(f.desk.check_sla(&f.store).await.expect("sweep"), 4);
    let (yesterday, today) = yesterday_and_today(f.offset_hours());
    let report = f.report(yesterday, today).await;
    let n2 = &report.sla[0];
    assert_eq!(n2.level, Level::N2);
    assert_eq!((n2.cases, n2.compliant, n2.compliance_percent), (7, 3, Some(42.9)));
    assert_eq!(n2.breaches["primera_respuesta"], 4);
    assert_eq!(n2.breaches["solucion"], 0);
    assert!(
        report
            .sla
            .iter()
            .filter(|s| s.level != Level::N2)
            .all(|s| s.compliance_percent == Some(100.0))
    );
    let csv = report.to_csv();
    assert!(csv.contains("\r\nans,n2_incumplimientos_primera_respuesta,4\r\n"), "{csv}");
    assert!(csv.contains("\r\nans,n2_cumplimiento_porcentaje,42.9\r\n"), "{csv}");
}

// The binary, as an operator runs it.

/// A reader of RFC 4180 records (no quoted line breaks in this report's values).
fn csv_records(text: &str) -> Vec<Vec<String>> {
    assert!(text.ends_with("\r\n"), "CRLF line ends: {text:?}");
    text.split_terminator("\r\n").map(|line| line.split(',').map(String::from).collect()).collect()
}

/// A host with three requests ingested by `mesa-fe ingest`: a factura at N2, a habilitación
/// waiting for information and a factura answered at first contact.
fn ingested() -> Host {
    let host = Host::new();
    let output = host
        .mesa_fe()
        .arg("ingest")
        .arg(fixture_path("mail/01_proveedor_zip_attacheddocument.eml"))
        .arg(fixture_path("mail/12_habilitacion_set_de_pruebas.eml"))
        .arg(fixture_path("mail/16_respuesta_dian_rechazo_independiente.eml"))
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", text(&output));
    host
}

#[test]
fn the_binary_writes_the_report_as_csv_json_and_markdown() {
    let host = ingested();
    let (yesterday, today) = yesterday_and_today(-5);
    let period =
        ["--desde".to_string(), yesterday.to_string(), "--hasta".to_string(), today.to_string()];

    let csv = host
        .mesa_fe()
        .arg("reporte")
        .args(&period)
        .args(["--formato", "csv"])
        .output()
        .expect("run");
    assert!(csv.status.success(), "{}", text(&csv));
    let records = csv_records(&String::from_utf8(csv.stdout.clone()).expect("UTF-8"));
    assert_eq!(records[0], ["seccion", "clave", "valor"]);
    assert!(records.iter().all(|r| r.len() == 3), "{records:?}");
    let value = |section: &str, key: &str| -> String {
        let row = records.iter().find(|r| r[0] == section && r[1] == key);
        row.unwrap_or_else(|| panic!("no row {section},{key}: {records:?}"))[2].clone()
    };
    assert_eq!(value("periodo", "desde"), yesterday.to_string());
    assert_eq!(value("resumen", "casos"), "3");
    assert_eq!(value("tema", "factura_electronica"), "2");
    assert_eq!(value("tema", "habilitacion"), "1");
    assert_eq!(value("estado", "pendiente_informacion"), "1");
    assert_eq!(value("nivel_maximo", "n2"), "1");
    assert_eq!(value("primer_contacto", "porcentaje"), "33.3");
    assert_eq!(value("tiempo_solucion", "n1_casos"), "1");
    assert_eq!(value("tiempo_solucion", "n2_mediana_horas"), "sin datos");
    assert_eq!(value("ans", "n2_cumplimiento_porcentaje"), "100.0");

    let json = host
        .mesa_fe()
        .arg("reporte")
        .args(&period)
        .args(["--formato", "json"])
        .output()
        .expect("run");
    assert!(json.status.success(), "{}", text(&json));
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(json["total_cases"], 3);
    assert_eq!(json["period"]["to"], today.to_string());
    assert_eq!(json["period"]["utc_offset_hours"], -5);
    assert_eq!(json["first_contact"]["percent"], 33.3);
    let tema = &json["breakdowns"][0];
    assert_eq!(tema["dimension"], "tema");
    assert_eq!(tema["counts"][0]["key"], "factura_electronica");
    assert_eq!(tema["counts"][0]["cases"], 2);
    assert_eq!(json["solution_times"]["by_level"][0]["cases"], 1);

    // The default period (this month up to today) and format (Markdown), into a file.
    let file = host.dir.path().join("informe.md");
    let md = host.mesa_fe().arg("reporte").arg("--salida").arg(&file).output().expect("run");
    assert!(md.status.success(), "{}", text(&md));
    assert!(text(&md).contains("Informe de niveles de servicio escrito en"), "{}", text(&md));
    assert!(text(&md).contains(": 3 casos creados del "), "{}", text(&md));
    let written = std::fs::read_to_string(&file).expect("report written");
    assert!(written.starts_with("# Informe de niveles de servicio\n"), "{written}");
    assert!(written.contains("## 2. Casos por tema"), "{written}");
}

#[test]
fn bad_arguments_have_clear_spanish_errors() {
    let host = Host::new();
    let run = |args: &[&str]| host.mesa_fe().arg("reporte").args(args).output().expect("run");

    for bad in ["2026-02-30", "2026-3-1", "01/03/2026", "ayer"] {
        let output = run(&["--desde", bad]);
        assert_eq!(output.status.code(), Some(65), "{bad}: {}", text(&output));
        let message = text(&output);
        assert!(message.contains(&format!("fecha inválida en --desde: \"{bad}\"")), "{message}");
        assert!(message.contains("AAAA-MM-DD"), "{message}");
    }

    let reversed = run(&["--desde", "2026-03-10", "--hasta", "2026-03-01"]);
    assert_eq!(reversed.status.code(), Some(65), "{}", text(&reversed));
    assert!(
        text(&reversed).contains("--hasta (2026-03-01) es anterior a --desde (2026-03-10)"),
        "{}",
        text(&reversed)
    );

    let future = run(&["--desde", "2999-01-01"]);
    assert_eq!(future.status.code(), Some(65), "{}", text(&future));
    assert!(text(&future).contains("--desde (2999-01-01) es posterior a hoy"), "{}", text(&future));

    let format = run(&["--formato", "pdf"]);
    assert_eq!(format.status.code(), Some(65), "{}", text(&format));
    assert!(text(&format).contains("formato desconocido: \"pdf\""), "{}", text(&format));

    let nowhere = host.dir.path().join("no-existe").join("informe.csv");
    let unwritable = host
        .mesa_fe()
        .args(["reporte", "--formato", "csv", "--salida"])
        .arg(&nowhere)
        .output()
        .expect("run");
    assert_eq!(unwritable.status.code(), Some(74), "EX_IOERR: {}", text(&unwritable));
    assert!(text(&unwritable).contains("no se pudo escribir"), "{}", text(&unwritable));
}
