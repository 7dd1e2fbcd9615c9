//! The service-level report the DIAN's Subdirección presents ("niveles de servicio"), over the
//! cases CREATED in a period of whole days in the desk's time zone: how many, by tema, channel,
//! status now and highest level reached; how many were solved at first contact; how long the
//! solutions took (median calendar hours from creation to the first activity 11, by the level
//! that delivered it); and, per level, the share of the cases that reached it without an SLA
//! breach there.
//!
//! Pure: [`Report::build`] works on the plain rows ([`ReportRows`]) `mesa-fe reporte` reads from
//! the store (`Store::report_rows`), and renders Markdown (to read), CSV (RFC 4180, one row
//! per metric: section, key, value) or JSON.
//!
//! Extension point: every "cases by …" table is a [`Dimension`]. Case types (a later issue) are
//! one more variant there, reading a new column of [`ReportCase`]; the three renderings pick it
//! up without further changes.

use crate::text::csv_record as record;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::desk::case::Status;
use crate::desk::sla::Target;
use crate::desk::{Channel, Level, Tema};

/// A case created in the period, as the report reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportCase {
    pub id: i64,
    pub number: String,
    /// Status now (not at the end of the period).
    pub status: Status,
    /// Level now.
    pub level: Level,
    pub tema: Tema,
    pub channel: Channel,
    pub case_type: crate::desk::CaseType,
    /// Solved at first contact from the known-error base (cleared when the requester reopened).
    pub first_contact: bool,
    /// Parent case (mass incident).
    pub parent_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// A level a case went to, from its events (`events.to_level`), once per case and level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelVisit {
    pub case_id: i64,
    pub level: Level,
}

/// A solution delivered to the requester (an activity 11 event), at the level that gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SolutionEvent {
    pub case_id: i64,
    pub level: Level,
    pub delivered_at: DateTime<Utc>,
}

/// An SLA target that passed (`sla_breaches`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreachRow {
    pub case_id: i64,
    pub level: Level,
    /// `primera_respuesta` or `solucion`, as recorded.
    pub target: String,
}

/// Everything the report is computed from, for the cases created in `[start, end)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportRows {
    /// Oldest first.
    pub cases: Vec<ReportCase>,
    pub visits: Vec<LevelVisit>,
    /// In the order they were recorded (event id).
    pub solutions: Vec<SolutionEvent>,
    pub breaches: Vec<BreachRow>,
}

/// The levels in the order a case climbs them (n1 < n2 < n3 < Administración Técnica).
pub const LEVELS: [Level; 4] = [Level::N1, Level::N2, Level::N3, Level::AdministracionTecnica];

/// The levels with SLA targets (`[sla.n2]`, `[sla.n3]`, `[sla.administracion_tecnica]`): N1
/// answers at once and has none (see `Config::sla_target`), so it has no compliance to report.
pub const SLA_LEVELS: [Level; 3] = [Level::N2, Level::N3, Level::AdministracionTecnica];

/// The SLA targets (`sla_breaches.target`); each has its column even at zero.
pub const SLA_TARGETS: [Target; 2] = [Target::PrimeraRespuesta, Target::Solucion];

/// The CSV header.
pub const CSV_COLUMNS: [&str; 3] = ["seccion", "clave", "valor"];

/// What the CSV and Markdown say where a median or a rate has no cases to come from.
pub const NO_DATA: &str = "sin datos";

/// Whole days `from` to `to` (both included) in the desk's time zone, and the instants they
/// span: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// `general.zona_horaria_horas` (Colombia: -5).
    pub utc_offset_hours: i32,
    /// `from` at 00:00 in the desk's time zone.
    pub start: DateTime<Utc>,
    /// The day after `to` at 00:00 in the desk's time zone (excluded).
    pub end: DateTime<Utc>,
    #[serde(skip)]
    offset: FixedOffset,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("el período termina ({to}) antes de empezar ({from})")]
    Reversed { from: NaiveDate, to: NaiveDate },
    #[error("la zona horaria ({0} horas respecto a UTC) está fuera de rango")]
    Offset(i32),
    #[error("la fecha {0} está fuera del rango que se puede calcular")]
    OutOfRange(NaiveDate),
}

impl Period {
    pub fn new(
        from: NaiveDate,
        to: NaiveDate,
        utc_offset_hours: i32,
    ) -> Result<Period, PeriodError> {
        if to < from {
            return Err(PeriodError::Reversed { from, to });
        }
        let offset = offset(utc_offset_hours)?;
        let next = to.succ_opt().ok_or(PeriodError::OutOfRange(to))?;
        Ok(Period {
            from,
            to,
            utc_offset_hours,
            start: local_midnight(from, offset)?,
            end: local_midnight(next, offset)?,
            offset,
        })
    }

    /// `at` in the desk's time zone.
    pub fn local(&self, at: DateTime<Utc>) -> DateTime<FixedOffset> {
        at.with_timezone(&self.offset)
    }

    /// The period asked for, with the defaults of `mesa-fe reporte`: up to `today` when `to` is
    /// not given, and from the first day of `to`'s month when `from` is not given (so, without
    /// either, the current month up to today).
    pub fn resolve(
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        today: NaiveDate,
        utc_offset_hours: i32,
    ) -> Result<Period, PeriodError> {
        let to = to.unwrap_or(today);
        let from = from.unwrap_or_else(|| to.with_day(1).unwrap_or(to));
        Period::new(from, to, utc_offset_hours)
    }

    /// The desk's date at `now`.
    pub fn today(now: DateTime<Utc>, utc_offset_hours: i32) -> Result<NaiveDate, PeriodError> {
        Ok(now.with_timezone(&offset(utc_offset_hours)?).date_naive())
    }

    /// `UTC-05:00`.
    fn zone(&self) -> String {
        let sign = if self.utc_offset_hours < 0 { '-' } else { '+' };
        format!("UTC{sign}{:02}:00", self.utc_offset_hours.unsigned_abs())
    }
}

fn offset(hours: i32) -> Result<FixedOffset, PeriodError> {
    hours.checked_mul(3600).and_then(FixedOffset::east_opt).ok_or(PeriodError::Offset(hours))
}

fn local_midnight(day: NaiveDate, offset: FixedOffset) -> Result<DateTime<Utc>, PeriodError> {
    day.and_time(NaiveTime::MIN)
        .and_local_timezone(offset)
        .single()
        .map(|at| at.with_timezone(&Utc))
        .ok_or(PeriodError::OutOfRange(day))
}

/// What the cases are counted by: one table each, every value listed (also at zero) so reports
/// of different periods line up.
///
/// Case types (a later issue) are one more variant: its key, titles and values here, and the
/// column of [`ReportCase`] that `value_of` reads. Markdown, CSV and JSON follow from that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Tema,
    /// Incidente, requerimiento, cambio o problema.
    Tipo,
    Canal,
    Estado,
    /// The highest level the case reached, from its events.
    NivelMaximo,
}

impl Dimension {
    /// The tables, in report order.
    pub const ALL: [Dimension; 5] = [
        Dimension::Tema,
        Dimension::Tipo,
        Dimension::Canal,
        Dimension::Estado,
        Dimension::NivelMaximo,
    ];

    /// The CSV section and JSON name.
    pub fn key(self) -> &'static str {
        match self {
            Dimension::Tema => "tema",
            Dimension::Tipo => "tipo",
            Dimension::Canal => "canal",
            Dimension::Estado => "estado",
            Dimension::NivelMaximo => "nivel_maximo",
        }
    }

    /// The Markdown heading.
    pub fn title(self) -> &'static str {
        match self {
            Dimension::Tema => "Casos por tema",
            Dimension::Tipo => "Casos por tipo",
            Dimension::Canal => "Casos por canal",
            Dimension::Estado => "Casos por estado actual",
            Dimension::NivelMaximo => "Casos por nivel máximo alcanzado",
        }
    }

    /// The Markdown column of the values.
    fn column(self) -> &'static str {
        match self {
            Dimension::Tema => "Tema",
            Dimension::Tipo => "Tipo",
            Dimension::Canal => "Canal",
            Dimension::Estado => "Estado",
            Dimension::NivelMaximo => "Nivel máximo",
        }
    }

    /// Every value (key and Spanish label), in report order.
    pub fn values(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Dimension::Tema => Tema::ALL.iter().map(|t| (t.as_str(), t.label())).collect(),
            Dimension::Tipo => {
                crate::desk::CaseType::ALL.iter().map(|t| (t.as_str(), t.label())).collect()
            }
            Dimension::Canal => {
                [Channel::Correo, Channel::Aranda, Channel::Pqsr, Channel::Rechazado]
                    .iter()
                    .map(|c| (c.as_str(), channel_label(*c)))
                    .collect()
            }
            Dimension::Estado => Status::ALL.iter().map(|s| (s.as_str(), s.label())).collect(),
            Dimension::NivelMaximo => {
                LEVELS.iter().map(|l| (l.as_str(), level_label(*l))).collect()
            }
        }
    }

    /// The key of one case's value.
    fn value_of(self, facts: &CaseFacts<'_>) -> &'static str {
        match self {
            Dimension::Tema => facts.case.tema.as_str(),
            Dimension::Tipo => facts.case.case_type.as_str(),
            Dimension::Canal => facts.case.channel.as_str(),
            Dimension::Estado => facts.case.status.as_str(),
            Dimension::NivelMaximo => facts.highest.as_str(),
        }
    }
}

pub fn level_label(level: Level) -> &'static str {
    match level {
        Level::N1 => "Nivel 1",
        Level::N2 => "Nivel 2",
        Level::N3 => "Nivel 3",
        Level::AdministracionTecnica => "Administración Técnica",
    }
}

fn channel_label(channel: Channel) -> &'static str {
    match channel {
        Channel::Correo => "Correo electrónico",
        Channel::Aranda => "Aranda",
        Channel::Pqsr => "PQSR",
        Channel::Rechazado => "Rechazado (remitente no autorizado para el buzón)",
    }
}

fn target_label(target: &str) -> String {
    match SLA_TARGETS.iter().find(|t| t.as_str() == target) {
        Some(Target::PrimeraRespuesta) => "Incumplimientos de primera respuesta".into(),
        Some(Target::Solucion) => "Incumplimientos de solución".into(),
        None => format!("Incumplimientos ({target})"),
    }
}

/// Position of a level in [`LEVELS`].
fn rank(level: Level) -> usize {
    match level {
        Level::N1 => 0,
        Level::N2 => 1,
        Level::N3 => 2,
        Level::AdministracionTecnica => 3,
    }
}

/// One case with what the report derives from its other rows.
struct CaseFacts<'a> {
    case: &'a ReportCase,
    highest: Level,
}

/// The report. Percentages and hours are rounded to one decimal; `None` means no cases to
/// compute them from ("sin datos").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub period: Period,
    pub generated_at: DateTime<FixedOffset>,
    pub total_cases: u64,
    /// Cases linked to a parent case (mass incident).
    pub mass_incident_children: u64,
    /// One table per [`Dimension`], in [`Dimension::ALL`] order.
    pub breakdowns: Vec<Breakdown>,
    /// Cases solved at first contact (`cases.first_contact`) over all cases.
    pub first_contact: Rate,
    pub solution_times: SolutionTimes,
    /// One entry per level with SLA targets, in [`SLA_LEVELS`] order.
    pub sla: Vec<SlaLevel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breakdown {
    pub dimension: Dimension,
    pub title: &'static str,
    pub counts: Vec<Count>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    pub key: &'static str,
    pub label: &'static str,
    pub cases: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    pub cases: u64,
    pub of: u64,
    pub percent: Option<f64>,
}

impl Rate {
    fn new(cases: u64, of: u64) -> Rate {
        Rate { cases, of, percent: percent(cases, of) }
    }
}

/// From the case's creation to its first solution delivered (activity 11), in calendar hours.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SolutionTimes {
    /// By the level that delivered the first solution, in [`LEVELS`] order.
    pub by_level: Vec<LevelTime>,
    pub overall: Time,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LevelTime {
    pub level: Level,
    pub cases: u64,
    pub median_hours: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Time {
    pub cases: u64,
    pub median_hours: Option<f64>,
}

/// SLA compliance at one level: the cases that reached it and have no breach recorded there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlaLevel {
    pub level: Level,
    /// Cases that reached the level.
    pub cases: u64,
    /// Of those, the ones without a breach at this level.
    pub compliant: u64,
    pub compliance_percent: Option<f64>,
    /// Breaches recorded at this level, by target ([`SLA_TARGETS`] always present).
    pub breaches: BTreeMap<String, u64>,
}

impl Report {
    /// Aggregates `rows` (the cases created in `period` and their events and breaches). Rows of
    /// other cases are ignored. A case reached the levels of its events, its current level and
    /// any level where a breach was recorded.
    pub fn build(period: Period, generated_at: DateTime<FixedOffset>, rows: &ReportRows) -> Report {
        let mut reached: HashMap<i64, [bool; 4]> = rows
            .cases
            .iter()
            .map(|case| {
                let mut levels = [false; 4];
                levels[rank(case.level)] = true;
                (case.id, levels)
            })
            .collect();
        let visited = rows
            .visits
            .iter()
            .map(|v| (v.case_id, v.level))
            .chain(rows.breaches.iter().map(|b| (b.case_id, b.level)));
        for (case_id, level) in visited {
            if let Some(levels) = reached.get_mut(&case_id) {
                levels[rank(level)] = true;
            }
        }
        let facts: Vec<CaseFacts<'_>> = rows
            .cases
            .iter()
            .map(|case| {
                let levels = reached.get(&case.id).copied().unwrap_or_default();
                let highest =
                    LEVELS.iter().rev().copied().find(|l| levels[rank(*l)]).unwrap_or(case.level);
                CaseFacts { case, highest }
            })
            .collect();

        let total = facts.len() as u64;
        let breakdowns = Dimension::ALL.iter().map(|d| breakdown(*d, &facts)).collect();
        let first_contact =
            Rate::new(facts.iter().filter(|f| f.case.first_contact).count() as u64, total);

        // The first solution of each case, in the order the events were recorded.
        let created: HashMap<i64, DateTime<Utc>> =
            rows.cases.iter().map(|c| (c.id, c.created_at)).collect();
        let mut solved: HashSet<i64> = HashSet::new();
        let mut hours: [Vec<f64>; 4] = Default::default();
        for solution in &rows.solutions {
            let Some(created_at) = created.get(&solution.case_id) else { continue };
            if solved.insert(solution.case_id) {
                let seconds = (solution.delivered_at - *created_at).num_seconds();
                hours[rank(solution.level)].push(seconds as f64 / 3600.0);
            }
        }
        let all_hours: Vec<f64> = hours.iter().flatten().copied().collect();
        let solution_times = SolutionTimes {
            by_level: LEVELS
                .iter()
                .map(|level| {
                    let values = &hours[rank(*level)];
                    LevelTime {
                        level: *level,
                        cases: values.len() as u64,
                        median_hours: median(values).map(one_decimal),
                    }
                })
                .collect(),
            overall: Time {
                cases: all_hours.len() as u64,
                median_hours: median(&all_hours).map(one_decimal),
            },
        };

        let mut breached: HashSet<(i64, usize)> = HashSet::new();
        let mut breach_counts: [BTreeMap<String, u64>; 4] = Default::default();
        for counts in &mut breach_counts {
            counts.extend(SLA_TARGETS.iter().map(|t| (t.as_str().to_owned(), 0)));
        }
        for breach in rows.breaches.iter().filter(|b| reached.contains_key(&b.case_id)) {
            breached.insert((breach.case_id, rank(breach.level)));
            *breach_counts[rank(breach.level)].entry(breach.target.clone()).or_insert(0) += 1;
        }
        let sla = SLA_LEVELS
            .iter()
            .map(|level| {
                let at = rank(*level);
                let arrived: Vec<i64> = facts
                    .iter()
                    .map(|f| f.case.id)
                    .filter(|id| reached.get(id).is_some_and(|levels| levels[at]))
                    .collect();
                let compliant =
                    arrived.iter().filter(|id| !breached.contains(&(**id, at))).count() as u64;
                let cases = arrived.len() as u64;
                SlaLevel {
                    level: *level,
                    cases,
                    compliant,
                    compliance_percent: percent(compliant, cases),
                    breaches: breach_counts[at].clone(),
                }
            })
            .collect();

        Report {
            period,
            generated_at,
            total_cases: total,
            mass_incident_children: facts.iter().filter(|f| f.case.parent_id.is_some()).count()
                as u64,
            breakdowns,
            first_contact,
            solution_times,
            sla,
        }
    }

    /// The breakdown of one dimension.
    pub fn breakdown(&self, dimension: Dimension) -> Option<&Breakdown> {
        self.breakdowns.iter().find(|b| b.dimension == dimension)
    }

    /// The report as a Markdown document in Spanish: a summary, one table per dimension, the
    /// first-contact rate, solution times and SLA compliance.
    pub fn to_markdown(&self) -> String {
        let p = &self.period;
        let mut out = String::new();
        out.push_str("# Informe de niveles de servicio\n\n");
        let _ = writeln!(
            out,
            "Mesa de ayuda de Facturación Electrónica. Casos creados del {} al {} (días completos, \
             hora de la mesa {}). Generado el {}.\n",
            p.from,
            p.to,
            p.zone(),
            self.generated_at.format("%Y-%m-%d a las %H:%M")
        );
        let mut section = 0;
        let mut heading = |out: &mut String, title: &str| {
            section += 1;
            let _ = writeln!(out, "## {section}. {title}\n");
        };

        heading(&mut out, "Resumen");
        if self.total_cases == 0 {
            out.push_str("No se crearon casos en el período.\n\n");
        }
        out.push_str("| Indicador | Valor |\n| --- | ---: |\n");
        let _ = writeln!(out, "| Casos creados | {} |", self.total_cases);
        let _ = writeln!(
            out,
            "| Casos hijos de una afectación masiva | {} |",
            self.mass_incident_children
        );
        let _ = writeln!(
            out,
            "| Solucionados en primer contacto | {} ({}) |",
            self.first_contact.cases,
            md_percent(self.first_contact.percent)
        );
        let overall = &self.solution_times.overall;
        let _ = writeln!(out, "| Casos con solución entregada | {} |", overall.cases);
        let _ = writeln!(
            out,
            "| Mediana hasta la solución (horas) | {} |\n",
            md_number(overall.median_hours)
        );

        for table in &self.breakdowns {
            heading(&mut out, table.title);
            let _ = writeln!(
                out,
                "| {} | Casos | Participación |\n| --- | ---: | ---: |",
                table.dimension.column()
            );
            for count in &table.counts {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    count.label,
                    count.cases,
                    md_percent(percent(count.cases, self.total_cases))
                );
            }
            let _ = writeln!(out, "| **Total** | **{}** | |\n", self.total_cases);
        }

        heading(&mut out, "Solución en primer contacto");
        let _ = writeln!(
            out,
            "Casos solucionados en el primer contacto con la respuesta de un error conocido \
             (CT-CAC-0127), sobre el total de casos creados: {} de {}, **{}**.\n",
            self.first_contact.cases,
            self.first_contact.of,
            md_percent(self.first_contact.percent)
        );

        heading(&mut out, "Tiempo hasta la solución");
        out.push_str(
            "Horas calendario desde la creación del caso hasta la primera entrega de la solución \
             al solicitante (actividad 11), según el nivel que la dio; mediana de los casos.\n\n",
        );
        out.push_str(
            "| Nivel que dio la solución | Casos | Mediana (horas) |\n| --- | ---: | ---: |\n",
        );
        for time in &self.solution_times.by_level {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                level_label(time.level),
                time.cases,
                md_number(time.median_hours)
            );
        }
        let _ = writeln!(
            out,
            "| **Total** | **{}** | **{}** |\n",
            overall.cases,
            md_number(overall.median_hours)
        );

        heading(&mut out, "Cumplimiento de los acuerdos de nivel de servicio (ANS)");
        out.push_str(
            "Por nivel con objetivos de servicio (el nivel 1 responde en el primer contacto y no \
             tiene objetivos): casos que llegaron al nivel y, de ellos, los que no tienen \
             incumplimiento registrado en ese nivel; y los incumplimientos registrados, por \
             objetivo.\n\n",
        );
        let targets: Vec<&String> = {
            let mut all: Vec<&String> = self.sla.iter().flat_map(|s| s.breaches.keys()).collect();
            all.sort();
            all.dedup();
            all
        };
        out.push_str("| Nivel | Casos que llegaron | Sin incumplimiento | Cumplimiento |");
        for target in &targets {
            let _ = write!(out, " {} |", md_cell(&target_label(target)));
        }
        out.push_str("\n| --- | ---: | ---: | ---: |");
        out.push_str(&" ---: |".repeat(targets.len()));
        out.push('\n');
        for level in &self.sla {
            let _ = write!(
                out,
                "| {} | {} | {} | {} |",
                level_label(level.level),
                level.cases,
                level.compliant,
                md_percent(level.compliance_percent)
            );
            for target in &targets {
                let _ = write!(out, " {} |", level.breaches.get(*target).copied().unwrap_or(0));
            }
            out.push('\n');
        }
        out
    }

    /// The report as CSV (RFC 4180, CRLF): the header `seccion,clave,valor`, then one row per
    /// metric. Decimals with a point; "sin datos" where there is nothing to compute from.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        record(&mut out, &CSV_COLUMNS);
        for (section, key, value) in self.metrics() {
            record(&mut out, &[&section, &key, &value]);
        }
        out
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        Ok(text)
    }

    /// Every metric as (section, key, value), in report order: the rows of the CSV.
    pub fn metrics(&self) -> Vec<(String, String, String)> {
        let mut rows: Vec<(String, String, String)> = Vec::new();
        let mut push = |section: &str, key: &str, value: String| {
            rows.push((section.to_owned(), key.to_owned(), value));
        };
        let p = &self.period;
        push("periodo", "desde", p.from.to_string());
        push("periodo", "hasta", p.to.to_string());
        push("periodo", "zona_horaria_horas", p.utc_offset_hours.to_string());
        push("periodo", "generado", self.generated_at.to_rfc3339_opts(SecondsFormat::Secs, true));
        push("resumen", "casos", self.total_cases.to_string());
        push("resumen", "casos_hijos_afectacion_masiva", self.mass_incident_children.to_string());
        for table in &self.breakdowns {
            for count in &table.counts {
                push(table.dimension.key(), count.key, count.cases.to_string());
            }
        }
        push("primer_contacto", "casos", self.first_contact.cases.to_string());
        push("primer_contacto", "porcentaje", csv_number(self.first_contact.percent));
        for time in &self.solution_times.by_level {
            let level = time.level.as_str();
            push("tiempo_solucion", &format!("{level}_casos"), time.cases.to_string());
            push(
                "tiempo_solucion",
                &format!("{level}_mediana_horas"),
                csv_number(time.median_hours),
            );
        }
        let overall = &self.solution_times.overall;
        push("tiempo_solucion", "total_casos", overall.cases.to_string());
        push("tiempo_solucion", "total_mediana_horas", csv_number(overall.median_hours));
        for sla in &self.sla {
            let level = sla.level.as_str();
            push("ans", &format!("{level}_casos"), sla.cases.to_string());
            push("ans", &format!("{level}_sin_incumplimiento"), sla.compliant.to_string());
            push(
                "ans",
                &format!("{level}_cumplimiento_porcentaje"),
                csv_number(sla.compliance_percent),
            );
            for (target, count) in &sla.breaches {
                push("ans", &format!("{level}_incumplimientos_{target}"), count.to_string());
            }
        }
        rows
    }
}

fn breakdown(dimension: Dimension, facts: &[CaseFacts<'_>]) -> Breakdown {
    let mut counts: HashMap<&'static str, u64> = HashMap::new();
    for f in facts {
        *counts.entry(dimension.value_of(f)).or_insert(0) += 1;
    }
    Breakdown {
        dimension,
        title: dimension.title(),
        counts: dimension
            .values()
            .into_iter()
            .map(|(key, label)| Count { key, label, cases: counts.get(key).copied().unwrap_or(0) })
            .collect(),
    }
}

/// The median: the middle value, or the mean of the two middle values of an even count; `None`
/// without values. The input need not be sorted.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[middle]),
        _ => Some((sorted[middle - 1] + sorted[middle]) / 2.0),
    }
}

/// `part` over `whole` as a percentage with one decimal; `None` when `whole` is zero.
fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| one_decimal(100.0 * part as f64 / whole as f64))
}

fn one_decimal(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// `11,1 %` (Spanish decimal comma), or "sin datos".
fn md_percent(value: Option<f64>) -> String {
    value.map_or_else(|| NO_DATA.to_owned(), |v| format!("{} %", md_decimal(v)))
}

fn md_number(value: Option<f64>) -> String {
    value.map_or_else(|| NO_DATA.to_owned(), md_decimal)
}

fn md_decimal(value: f64) -> String {
    format!("{value:.1}").replace('.', ",")
}

/// `11.1` for machines, or "sin datos".
fn csv_number(value: Option<f64>) -> String {
    value.map_or_else(|| NO_DATA.to_owned(), |v| format!("{v:.1}"))
}

/// A table cell: a line, with the pipes escaped.
fn md_cell(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::read_csv as parse_csv;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("timestamp").with_timezone(&Utc)
    }

    fn march() -> Period {
        Period::new(day("2026-03-01"), day("2026-03-31"), -5).expect("period")
    }

    fn generated() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-04-01T08:30:00-05:00").expect("timestamp")
    }

    fn case(id: i64, tema: Tema, status: Status, level: Level) -> ReportCase {
        ReportCase {
            id,
            number: format!("FE-2026-{id:06}"),
            status,
            level,
            tema,
            channel: Channel::Correo,
            case_type: crate::desk::CaseType::Incidente,
            first_contact: false,
            parent_id: None,
            created_at: at("2026-03-02T13:00:00Z"),
        }
    }

    fn visits(case_id: i64, levels: &[Level]) -> Vec<LevelVisit> {
        levels.iter().map(|level| LevelVisit { case_id, level: *level }).collect()
    }

    fn solution(case_id: i64, level: Level, delivered_at: &str) -> SolutionEvent {
        SolutionEvent { case_id, level, delivered_at: at(delivered_at) }
    }

    /// Five cases: (1) known error at N1, (2) solved at N2 after 2 h, (3) solved at N2 after 5 h,
    /// reopened and solved again, (4) escalated to N3 and solved there after 30 h with a breach
    /// at N2, (5) still at Administración Técnica, child of case 1, by Aranda. Plus rows of a
    /// case outside the period.
    fn rows() -> ReportRows {
        use Level::*;
        let mut first = case(1, Tema::FacturaElectronica, Status::Solucionado, N1);
        first.first_contact = true;
        let mut fifth = case(5, Tema::Radian, Status::Escalado, AdministracionTecnica);
        fifth.channel = Channel::Aranda;
        fifth.parent_id = Some(1);
        let cases = vec![
            first,
            case(2, Tema::FacturaElectronica, Status::Cerrado, N2),
            case(3, Tema::DocumentoSoporte, Status::Solucionado, N2),
            case(4, Tema::Radian, Status::Solucionado, N3),
            fifth,
        ];
        let mut all_visits = visits(1, &[N1]);
        all_visits.extend(visits(2, &[N1, N2]));
        all_visits.extend(visits(3, &[N1, N2]));
        all_visits.extend(visits(4, &[N1, N2, N3]));
        all_visits.extend(visits(5, &[N1, N2, N3, AdministracionTecnica]));
        all_visits.extend(visits(99, &[N3]));
        ReportRows {
            cases,
            visits: all_visits,
            solutions: vec![
                solution(1, N1, "2026-03-02T13:00:00Z"),
                solution(2, N2, "2026-03-02T15:00:00Z"),
                solution(3, N2, "2026-03-02T18:00:00Z"),
                solution(4, N3, "2026-03-03T19:00:00Z"),
                // A second solution of case 3 (after reopening) does not count.
                solution(3, N2, "2026-03-09T18:00:00Z"),
                solution(99, N3, "2026-03-02T18:00:00Z"),
            ],
            breaches: vec![
                BreachRow { case_id: 4, level: N2, target: "solucion".into() },
                BreachRow { case_id: 4, level: N2, target: "primera_respuesta".into() },
                BreachRow { case_id: 99, level: N3, target: "solucion".into() },
            ],
        }
    }

    fn report() -> Report {
        Report::build(march(), generated(), &rows())
    }

    fn counts(report: &Report, dimension: Dimension) -> Vec<(&'static str, u64)> {
        let table = report.breakdown(dimension).expect("table");
        table.counts.iter().map(|c| (c.key, c.cases)).collect()
    }

    #[test]
    fn median_of_odd_even_single_and_empty_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[4.0]), Some(4.0));
        assert_eq!(median(&[9.0, 1.0, 5.0]), Some(5.0), "unsorted input, odd count");
        assert_eq!(
            median(&[8.0, 2.0, 4.0, 100.0]),
            Some(6.0),
            "even count: mean of the middle two"
        );
        assert_eq!(median(&[1.0, 2.0]), Some(1.5));
        assert_eq!(median(&[3.0, 3.0, 3.0, 3.0]), Some(3.0));
    }

    #[test]
    fn the_period_is_whole_days_in_the_desks_time_zone() {
        let p = march();
        assert_eq!(p.start, at("2026-03-01T05:00:00Z"));
        assert_eq!(p.end, at("2026-04-01T05:00:00Z"), "the last day is included");
        let one_day = Period::new(day("2026-03-05"), day("2026-03-05"), -5).expect("one day");
        assert_eq!(one_day.end - one_day.start, chrono::Duration::hours(24));
        let utc = Period::new(day("2026-03-05"), day("2026-03-05"), 0).expect("UTC");
        assert_eq!(utc.start, at("2026-03-05T00:00:00Z"));
        assert_eq!(p.zone(), "UTC-05:00");
        assert_eq!(utc.zone(), "UTC+00:00");
        assert_eq!(p.local(at("2026-04-01T03:00:00Z")).to_rfc3339(), "2026-03-31T22:00:00-05:00");
    }

    #[test]
    fn a_period_that_ends_before_it_starts_is_refused() {
        let error = Period::new(day("2026-03-10"), day("2026-03-01"), -5).expect_err("reversed");
        assert_eq!(error, PeriodError::Reversed { from: day("2026-03-10"), to: day("2026-03-01") });
        assert!(error.to_string().contains("antes de empezar"), "{error}");
        assert_eq!(
            Period::new(day("2026-03-01"), day("2026-03-01"), 99),
            Err(PeriodError::Offset(99))
        );
    }

    #[test]
    fn defaults_are_the_current_month_up_to_today() {
        let today = day("2026-03-17");
        let p = Period::resolve(None, None, today, -5).expect("default");
        assert_eq!((p.from, p.to), (day("2026-03-01"), today));
        let p = Period::resolve(None, Some(day("2026-02-20")), today, -5).expect("only --hasta");
        assert_eq!((p.from, p.to), (day("2026-02-01"), day("2026-02-20")));
        let p = Period::resolve(Some(day("2026-01-15")), None, today, -5).expect("only --desde");
        assert_eq!((p.from, p.to), (day("2026-01-15"), today));
        assert!(Period::resolve(Some(day("2026-04-01")), None, today, -5).is_err());
        // 22:00 in Bogotá on 31 March is already 1 April in UTC.
        assert_eq!(Period::today(at("2026-04-01T03:00:00Z"), -5), Ok(day("2026-03-31")));
        assert_eq!(Period::today(at("2026-04-01T05:00:00Z"), -5), Ok(day("2026-04-01")));
    }

    #[test]
    fn totals_and_every_value_of_each_dimension() {
        let r = report();
        assert_eq!(r.total_cases, 5);
        assert_eq!(r.mass_incident_children, 1);
        assert_eq!(
            counts(&r, Dimension::Tema),
            vec![
                ("factura_electronica", 2),
                ("documento_soporte", 1),
                ("nomina_electronica", 0),
                ("radian", 2),
                ("facturador_gratuito", 0),
                ("habilitacion", 0),
                ("otro", 0),
            ]
        );
        assert_eq!(
            counts(&r, Dimension::Canal),
            vec![("correo", 4), ("aranda", 1), ("pqsr", 0), ("rechazado", 0)]
        );
        assert_eq!(
            counts(&r, Dimension::Tipo),
            vec![("incidente", 5), ("requerimiento", 0), ("cambio", 0), ("problema", 0)]
        );
        assert_eq!(
            counts(&r, Dimension::Estado),
            vec![
                ("nuevo", 0),
                ("pendiente_informacion", 0),
                ("en_atencion", 0),
                ("escalado", 1),
                ("solucionado", 3),
                ("cerrado", 1),
            ]
        );
        let dimensions: Vec<Dimension> = r.breakdowns.iter().map(|b| b.dimension).collect();
        assert_eq!(dimensions, Dimension::ALL);
    }

    #[test]
    fn the_highest_level_comes_from_the_events_and_the_current_level() {
        let mut rows = rows();
        // Case 2 went back to N1 after N2 (a reassignment): its highest level is still N2.
        rows.cases[1].level = Level::N1;
        // Case 3 has no events at all: its current level counts.
        rows.visits.retain(|v| v.case_id != 3);
        let r = Report::build(march(), generated(), &rows);
        assert_eq!(
            counts(&r, Dimension::NivelMaximo),
            vec![("n1", 1), ("n2", 2), ("n3", 1), ("administracion_tecnica", 1)]
        );
    }

    #[test]
    fn first_contact_rate_has_one_decimal() {
        let r = report();
        assert_eq!(r.first_contact, Rate { cases: 1, of: 5, percent: Some(20.0) });
        let mut rows = rows();
        rows.cases.truncate(3);
        let r = Report::build(march(), generated(), &rows);
        assert_eq!(r.first_contact.percent, Some(33.3));
    }

    #[test]
    fn solution_times_use_the_first_solution_of_each_case_by_level() {
        let times = report().solution_times;
        let by_level: Vec<(Level, u64, Option<f64>)> =
            times.by_level.iter().map(|t| (t.level, t.cases, t.median_hours)).collect();
        assert_eq!(
            by_level,
            vec![
                (Level::N1, 1, Some(0.0)),
                (Level::N2, 2, Some(3.5)),
                (Level::N3, 1, Some(30.0)),
                (Level::AdministracionTecnica, 0, None),
            ]
        );
        // 0, 2, 5, 30 hours.
        assert_eq!(times.overall, Time { cases: 4, median_hours: Some(3.5) });
    }

    #[test]
    fn hours_are_rounded_to_one_decimal() {
        let mut rows = rows();
        rows.solutions = vec![solution(2, Level::N2, "2026-03-02T14:20:00Z")];
        let r = Report::build(march(), generated(), &rows);
        assert_eq!(r.solution_times.overall.median_hours, Some(1.3), "80 minutes");
    }

    #[test]
    fn sla_compliance_per_level_and_breaches_by_target() {
        let sla = report().sla;
        let summary: Vec<(Level, u64, u64, Option<f64>)> =
            sla.iter().map(|s| (s.level, s.cases, s.compliant, s.compliance_percent)).collect();
        assert_eq!(
            summary,
            vec![
                (Level::N2, 4, 3, Some(75.0)),
                (Level::N3, 2, 2, Some(100.0)),
                (Level::AdministracionTecnica, 1, 1, Some(100.0)),
            ]
        );
        let n2: Vec<(&str, u64)> = sla[0].breaches.iter().map(|(t, n)| (t.as_str(), *n)).collect();
        assert_eq!(n2, vec![("primera_respuesta", 1), ("solucion", 1)]);
        // The breach of the case outside the period is not counted.
        assert_eq!(sla[1].breaches["solucion"], 0);
    }

    #[test]
    fn without_breaches_compliance_is_complete() {
        let mut rows = rows();
        rows.breaches.clear();
        let r = Report::build(march(), generated(), &rows);
        assert!(r.sla.iter().all(|s| s.compliance_percent == Some(100.0)));
        assert!(r.sla.iter().all(|s| s.breaches.values().all(|n| *n == 0)));
        assert!(r.sla.iter().all(|s| s.breaches.len() == SLA_TARGETS.len()));
    }

    #[test]
    fn an_empty_period_says_sin_datos() {
        let r = Report::build(march(), generated(), &ReportRows::default());
        assert_eq!(r.total_cases, 0);
        assert_eq!(r.first_contact.percent, None);
        assert_eq!(r.solution_times.overall, Time { cases: 0, median_hours: None });
        assert!(r.sla.iter().all(|s| s.cases == 0 && s.compliance_percent.is_none()));
        let md = r.to_markdown();
        assert!(md.contains("No se crearon casos en el período."), "{md}");
        assert!(md.contains("| Nivel 1 | 0 | sin datos |"), "{md}");
        let csv = r.to_csv();
        assert!(csv.contains("primer_contacto,porcentaje,sin datos\r\n"), "{csv}");
        let json: serde_json::Value =
            serde_json::from_str(&r.to_json().expect("json")).expect("valid JSON");
        assert!(json["first_contact"]["percent"].is_null());
    }

    #[test]
    fn markdown_has_spanish_headings_tables_and_decimal_commas() {
        let mut rows = rows();
        rows.cases.truncate(3);
        let md = Report::build(march(), generated(), &rows).to_markdown();
        assert!(md.starts_with("# Informe de niveles de servicio\n"), "{md}");
        assert!(md.contains("Casos creados del 2026-03-01 al 2026-03-31"), "{md}");
        assert!(md.contains("hora de la mesa UTC-05:00"), "{md}");
        assert!(md.contains("Generado el 2026-04-01 a las 08:30"), "{md}");
        for title in [
            "## 1. Resumen",
            "## 2. Casos por tema",
            "## 3. Casos por tipo",
            "## 4. Casos por canal",
            "## 5. Casos por estado actual",
            "## 6. Casos por nivel máximo alcanzado",
            "## 7. Solución en primer contacto",
            "## 8. Tiempo hasta la solución",
            "## 9. Cumplimiento de los acuerdos de nivel de servicio (ANS)",
        ] {
            assert!(md.contains(&format!("\n{title}\n")), "{title} missing:\n{md}");
        }
        assert!(md.contains("| Factura electrónica de venta | 2 | 66,7 % |"), "{md}");
        assert!(md.contains("| Nómina electrónica | 0 | 0,0 % |"), "{md}");
        assert!(md.contains("| **Total** | **3** | |"), "{md}");
        assert!(md.contains("| Solucionados en primer contacto | 1 (33,3 %) |"), "{md}");
        assert!(md.contains("1 de 3, **33,3 %**"), "{md}");
        assert!(md.contains("| Nivel 2 | 2 | 3,5 |"), "{md}");
        assert!(md.contains("| Administración Técnica | 0 | sin datos |"), "{md}");
        assert!(
            md.contains(
                "| Nivel | Casos que llegaron | Sin incumplimiento | Cumplimiento | \
                 Incumplimientos de primera respuesta | Incumplimientos de solución |"
            ),
            "{md}"
        );
        assert!(md.contains("| Nivel 2 | 2 | 2 | 100,0 % | 0 | 0 |"), "{md}");
        // Every table row has as many cells as its header.
        for table in md.split("\n\n").filter(|b| b.starts_with('|')) {
            let widths: Vec<usize> = table.lines().map(|l| l.matches(" |").count()).collect();
            assert!(widths.windows(2).all(|w| w[0] == w[1]), "{table}");
        }
    }

    #[test]
    fn csv_is_one_metric_per_row() {
        let r = report();
        let records = parse_csv(&r.to_csv());
        assert_eq!(records[0], CSV_COLUMNS);
        assert!(records.iter().all(|r| r.len() == 3), "{records:?}");
        let value = |section: &str, key: &str| -> String {
            let row = records.iter().find(|r| r[0] == section && r[1] == key);
            row.unwrap_or_else(|| panic!("no {section},{key}"))[2].clone()
        };
        assert_eq!(value("periodo", "desde"), "2026-03-01");
        assert_eq!(value("periodo", "hasta"), "2026-03-31");
        assert_eq!(value("periodo", "zona_horaria_horas"), "-5");
        assert_eq!(value("resumen", "casos"), "5");
        assert_eq!(value("tema", "radian"), "2");
        assert_eq!(value("tema", "habilitacion"), "0");
        assert_eq!(value("canal", "aranda"), "1");
        assert_eq!(value("estado", "solucionado"), "3");
        assert_eq!(value("nivel_maximo", "administracion_tecnica"), "1");
        assert_eq!(value("primer_contacto", "porcentaje"), "20.0");
        assert_eq!(value("tiempo_solucion", "n2_casos"), "2");
        assert_eq!(value("tiempo_solucion", "n2_mediana_horas"), "3.5");
        assert_eq!(value("tiempo_solucion", "administracion_tecnica_mediana_horas"), "sin datos");
        assert_eq!(value("tiempo_solucion", "total_mediana_horas"), "3.5");
        assert_eq!(value("ans", "n2_cumplimiento_porcentaje"), "75.0");
        assert_eq!(value("ans", "n2_incumplimientos_solucion"), "1");
        let rows_of_dimensions: usize = Dimension::ALL.iter().map(|d| d.values().len()).sum();
        assert_eq!(records.len(), 1 + r.metrics().len());
        assert!(r.metrics().len() > rows_of_dimensions);
    }

    #[test]
    fn csv_quotes_commas_quotes_and_line_breaks() {
        let mut rows = rows();
        rows.breaches.push(BreachRow {
            case_id: 2,
            level: Level::N2,
            target: "otro, \"raro\"\nobjetivo".into(),
        });
        let r = Report::build(march(), generated(), &rows);
        let csv = r.to_csv();
        assert!(
            csv.contains("ans,\"n2_incumplimientos_otro, \"\"raro\"\"\nobjetivo\",1\r\n"),
            "{csv}"
        );
        let records = parse_csv(&csv);
        assert!(records.iter().any(|r| r[1] == "n2_incumplimientos_otro, \"raro\"\nobjetivo"));
        // The Markdown keeps the table whole.
        let md = r.to_markdown();
        assert!(md.contains("Incumplimientos (otro, \"raro\" objetivo)"), "{md}");
    }

    #[test]
    fn json_carries_the_same_numbers() {
        let json: serde_json::Value =
            serde_json::from_str(&report().to_json().expect("json")).expect("valid JSON");
        assert_eq!(json["period"]["from"], "2026-03-01");
        assert_eq!(json["period"]["start"], "2026-03-01T05:00:00Z");
        assert_eq!(json["total_cases"], 5);
        assert_eq!(json["breakdowns"][0]["dimension"], "tema");
        assert_eq!(json["breakdowns"][0]["counts"][0]["key"], "factura_electronica");
        assert_eq!(json["breakdowns"][0]["counts"][0]["cases"], 2);
        assert_eq!(json["breakdowns"][1]["dimension"], "tipo");
        assert_eq!(json["breakdowns"][4]["dimension"], "nivel_maximo");
        assert_eq!(json["first_contact"]["percent"], 20.0);
        assert_eq!(json["solution_times"]["by_level"][1]["level"], "n2");
        assert_eq!(json["solution_times"]["by_level"][1]["median_hours"], 3.5);
        assert!(json["solution_times"]["by_level"][3]["median_hours"].is_null());
        assert_eq!(json["sla"][0]["level"], "n2");
        assert_eq!(json["sla"][0]["compliance_percent"], 75.0);
        assert_eq!(json["sla"][0]["breaches"]["solucion"], 1);
    }
}
