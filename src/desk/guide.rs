//! The CT-CAC-0127 guide for the Contact Center: every answer that solves a request at first
//! contact, in one document. It gathers the known-error base entries that have a
//! `respuesta_primer_contacto` and the solutions agents marked `#solucion primer-contacto`, and
//! renders them as Markdown (to read) or CSV (RFC 4180, for a spreadsheet). `mesa-fe kb export`
//! loads the base and the stored solutions; nothing here does I/O.

use crate::text::csv_record as record;
use std::fmt::Write as _;

use serde::Serialize;

use crate::desk::Tema;
use crate::desk::knowledge::KnowledgeBase;

/// A solution an agent marked for first contact (`#solucion primer-contacto`), with its case.
#[derive(Debug, Clone, Serialize)]
pub struct GuideSolution {
    pub case_number: String,
    pub tema: String,
    /// DIAN rule codes seen on the case, comma-separated; may be empty.
    pub codes: String,
    /// The case subject.
    pub question: String,
    pub answer: String,
    pub author: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}

crate::names::named_enum! {
    /// Where an answer of the guide comes from (the `origen` column).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Origin {
        /// An entry of the known-error base with a first-contact answer.
        KnownError = "base_errores_conocidos",
        /// A solution an agent marked for first contact on a case.
        AgentSolution = "solucion_agente",
    }
}

/// One answer of the guide. Texts are trimmed, with `\n` line ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuideItem {
    pub origin: Origin,
    /// The rule code and its equivalents (known errors) or the codes seen on the case.
    pub codes: Vec<String>,
    /// `factura_electronica`, …: the case's tema; empty for known errors.
    pub tema: String,
    /// DIAN's official message (known errors) or the case subject (agent solutions).
    pub question: String,
    /// What the error means; empty for agent solutions.
    pub meaning: String,
    pub answer: String,
    /// Empty for known errors.
    pub case_number: String,
    /// Empty for known errors.
    pub author: String,
    /// When the agent marked it (RFC 3339); empty for known errors.
    pub date: String,
}

/// The consolidated guide: known errors in file order, then agent solutions oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guide {
    /// Where the known-error base came from (a path or the built-in base).
    pub base_origin: String,
    pub items: Vec<GuideItem>,
}

/// The CSV header (the columns of the guide).
pub const CSV_COLUMNS: [&str; 9] = [
    "origen",
    "codigos",
    "tema",
    "pregunta_o_mensaje",
    "significado",
    "respuesta_primer_contacto",
    "caso",
    "autor",
    "fecha",
];

impl Guide {
    /// The entries of `base` that have a first-contact answer, then `solutions` as given.
    pub fn new(base: &KnowledgeBase, solutions: &[GuideSolution]) -> Guide {
        let known = base.entries().iter().filter_map(|entry| {
            let answer = entry.first_contact_answer.as_deref()?;
            Some(GuideItem {
                origin: Origin::KnownError,
                codes: entry.codes().map(str::to_owned).collect(),
                tema: String::new(),
                question: block(&entry.official_message),
                meaning: block(&entry.meaning),
                answer: block(answer),
                case_number: String::new(),
                author: String::new(),
                date: String::new(),
            })
        });
        let agents = solutions.iter().map(|s| GuideItem {
            origin: Origin::AgentSolution,
            codes: s
                .codes
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
            tema: s.tema.trim().to_owned(),
            question: block(&s.question),
            meaning: String::new(),
            answer: block(&s.answer),
            case_number: s.case_number.clone(),
            author: s.author.clone(),
            date: s.created_at.clone(),
        });
        Guide { base_origin: base.origin().to_owned(), items: known.chain(agents).collect() }
    }

    /// The answers of one origin, in guide order.
    pub fn of(&self, origin: Origin) -> impl Iterator<Item = &GuideItem> {
        self.items.iter().filter(move |item| item.origin == origin)
    }

    /// The guide as a Markdown document in Spanish: title, introduction, one section per origin.
    pub fn to_markdown(&self) -> String {
        let known: Vec<&GuideItem> = self.of(Origin::KnownError).collect();
        let agents: Vec<&GuideItem> = self.of(Origin::AgentSolution).collect();
        let mut out = String::new();
        out.push_str("# Guía de errores conocidos: solución en primer contacto\n\n");
        out.push_str(
            "Procedimiento CT-CAC-0127, Contact Center. Esta guía reúne las respuestas que se le \
             pueden dar al solicitante en el primer contacto, sin escalar el caso: los errores \
             conocidos de la DIAN que tienen respuesta de primer contacto y las soluciones que los \
             agentes marcaron para el primer contacto. Busque el código de la regla que aparece en \
             la respuesta de la DIAN (por ejemplo FAD06) o un caso parecido, y entregue la \
             respuesta tal como está escrita.\n\n",
        );
        let _ = writeln!(
            out,
            "Contenido: {} y {}. Base de errores conocidos: {}.\n",
            count(known.len(), "error conocido", "errores conocidos"),
            count(agents.len(), "solución de agentes", "soluciones de agentes"),
            inline(&self.base_origin)
        );

        let _ = writeln!(out, "## 1. Errores conocidos de la DIAN ({})\n", known.len());
        if known.is_empty() {
            out.push_str(
                "La base de errores conocidos no tiene respuestas de primer contacto.\n\n",
            );
        }
        for item in known {
            let first = item.codes.first().map_or("", String::as_str);
            let _ = writeln!(out, "### {} — {}\n", inline(first), inline(&item.question));
            field(&mut out, "Códigos", &codes(item));
            field(&mut out, "Mensaje oficial", &item.question);
            field(&mut out, "Significado", &item.meaning);
            answer(&mut out, &item.answer);
        }

        let _ =
            writeln!(out, "## 2. Soluciones de agentes para primer contacto ({})\n", agents.len());
        if agents.is_empty() {
            out.push_str("Todavía no hay soluciones de agentes marcadas para primer contacto.\n\n");
        }
        for item in agents {
            let _ = writeln!(
                out,
                "### Caso {} — {}\n",
                inline(&item.case_number),
                inline(&item.question)
            );
            field(&mut out, "Caso", &item.case_number);
            let tema = Tema::parse(&item.tema).map_or(item.tema.as_str(), |t| t.label());
            field(&mut out, "Tema", tema);
            field(&mut out, "Códigos", &codes(item));
            field(&mut out, "Pregunta (asunto del caso)", &item.question);
            field(&mut out, "Autor", &item.author);
            field(&mut out, "Fecha", &item.date);
            answer(&mut out, &item.answer);
        }
        while out.ends_with("\n\n") {
            out.pop();
        }
        out
    }

    /// The guide as CSV (RFC 4180): a header row, one record per answer, CRLF line ends.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        record(&mut out, &CSV_COLUMNS);
        for item in &self.items {
            record(
                &mut out,
                &[
                    item.origin.as_str(),
                    &item.codes.join(", "),
                    &item.tema,
                    &item.question,
                    &item.meaning,
                    &item.answer,
                    &item.case_number,
                    &item.author,
                    &item.date,
                ],
            );
        }
        out
    }

    /// The guide as JSON for scripts: an array of objects whose keys are the CSV columns, with
    /// `codigos` as an array.
    pub fn to_json(&self) -> serde_json::Value {
        let items = self.items.iter().map(|item| {
            serde_json::json!({
                "origen": item.origin.as_str(),
                "codigos": item.codes,
                "tema": item.tema,
                "pregunta_o_mensaje": item.question,
                "significado": item.meaning,
                "respuesta_primer_contacto": item.answer,
                "caso": item.case_number,
                "autor": item.author,
                "fecha": item.date,
            })
        });
        serde_json::Value::Array(items.collect())
    }
}

/// "1 error conocido", "3 errores conocidos".
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn codes(item: &GuideItem) -> String {
    if item.codes.is_empty() { "ninguno".to_owned() } else { item.codes.join(", ") }
}

/// A `- **Label:** value` line; empty values are left out.
fn field(out: &mut String, label: &str, value: &str) {
    if !value.is_empty() {
        let _ = writeln!(out, "- **{label}:** {}", inline(value));
    }
}

/// The answer in a fenced block: its lines, numbered lists and indentation kept as written, and
/// nothing in it read as Markdown.
fn answer(out: &mut String, text: &str) {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let _ = writeln!(out, "\nRespuesta de primer contacto:\n\n{fence}text\n{text}\n{fence}\n");
}

/// Text for one line of Markdown: line breaks become spaces, and the characters Markdown would
/// read as markup are escaped (a subject comes from the requester's mail).
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let entity =
            c == '&' && chars.peek().is_some_and(|n| n.is_ascii_alphanumeric() || *n == '#');
        if entity || matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A text as the guide keeps it: `\n` line ends, no trailing spaces, no blank lines around.
fn block(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.split('\n').map(str::trim_end).collect();
    let start = lines.iter().position(|l| !l.is_empty()).unwrap_or(lines.len());
    let end = lines.iter().rposition(|l| !l.is_empty()).map_or(start, |last| last + 1);
    lines[start..end].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::read_csv as parse_csv;

    const BASE: &str = r#"
[[error]]
codigo = "FAD06"
equivalentes = ["CAD06"]
tipo = "rechazo"
mensaje_oficial = "Valor del CUFE no está calculado correctamente."
significado = "El hash no coincide, revise \"la clave técnica\"."
respuesta_primer_contacto = """
Revise con su proveedor tecnológico:
1. La clave técnica, "la del rango".
   Continúa aquí.
"""

[[error]]
codigo = "FAJ43"
tipo = "rechazo"
mensaje_oficial = "Sin respuesta de primer contacto."
significado = "Necesita un agente."
"#;

    fn base() -> KnowledgeBase {
        KnowledgeBase::from_toml(BASE, "prueba.toml").expect("test base")
    }

    fn solution(subject: &str, answer: &str) -> GuideSolution {
        GuideSolution {
            case_number: "FE-2026-000007".into(),
            tema: "factura_electronica".into(),
            codes: "FAB05b,FAD06".into(),
            question: subject.into(),
            answer: answer.into(),
            author: "ana.rojas@dian.gov.co".into(),
            created_at: "2026-03-02T15:04:05Z".into(),
        }
    }

    /// A reader of RFC 4180, to check what a spreadsheet gets back.
    #[test]
    fn only_entries_with_a_first_contact_answer_then_agent_solutions() {
        let guide = Guide::new(&base(), &[solution("Factura rechazada", "Corrija el NIT.")]);
        assert_eq!(guide.items.len(), 2);
        let known = &guide.items[0];
        assert_eq!(known.origin, Origin::KnownError);
        assert_eq!(known.codes, ["FAD06", "CAD06"]);
        assert!(known.answer.starts_with("Revise con su proveedor"), "{}", known.answer);
        assert!(known.answer.ends_with("   Continúa aquí."), "trimmed: {:?}", known.answer);
        let agent = &guide.items[1];
        assert_eq!(agent.origin, Origin::AgentSolution);
        assert_eq!(agent.codes, ["FAB05b", "FAD06"]);
        assert_eq!(agent.case_number, "FE-2026-000007");
        assert!(agent.meaning.is_empty());
    }

    #[test]
    fn csv_quotes_commas_quotes_and_line_breaks() {
        let subject = "Rechazo \"FAD06\", otra vez";
        let answer = "Hola,\r\nrevise el \"CUFE\".\r\nGracias";
        let guide = Guide::new(&base(), &[solution(subject, answer)]);
        let csv = guide.to_csv();
        assert!(csv.starts_with(
            "origen,codigos,tema,pregunta_o_mensaje,significado,respuesta_primer_contacto,caso,\
             autor,fecha\r\n"
        ));
        assert!(csv.contains("\"Rechazo \"\"FAD06\"\", otra vez\""), "{csv}");
        assert!(csv.contains("\"Hola,\nrevise el \"\"CUFE\"\".\nGracias\""), "{csv}");
        assert!(
            csv.ends_with(",FE-2026-000007,ana.rojas@dian.gov.co,2026-03-02T15:04:05Z\r\n"),
            "{csv}"
        );
        // Plain fields stay bare.
        assert!(csv.contains("\r\nbase_errores_conocidos,\"FAD06, CAD06\",,"), "{csv}");

        let records = parse_csv(&csv);
        assert_eq!(records.len(), 3);
        assert!(records.iter().all(|r| r.len() == CSV_COLUMNS.len()), "{records:?}");
        assert_eq!(records[0], CSV_COLUMNS);
        assert_eq!(records[1][0], "base_errores_conocidos");
        assert_eq!(records[1][4], "El hash no coincide, revise \"la clave técnica\".");
        assert!(records[1][5].contains("1. La clave técnica, \"la del rango\".\n   Continúa"));
        assert_eq!(records[1][6], "");
        assert_eq!(records[2][0], "solucion_agente");
        assert_eq!(records[2][1], "FAB05b, FAD06");
        assert_eq!(records[2][2], "factura_electronica");
        assert_eq!(records[2][3], subject);
        assert_eq!(records[2][4], "");
        assert_eq!(records[2][5], "Hola,\nrevise el \"CUFE\".\nGracias");
    }

    #[test]
    fn markdown_has_both_origins_with_their_details() {
        let guide = Guide::new(
            &base(),
            &[solution("Factura rechazada", "Hola.\n\n1. Corrija el NIT.\n2. Reenvíe.")],
        );
        let md = guide.to_markdown();
        assert!(md.starts_with("# Guía de errores conocidos"), "{md}");
        assert!(md.contains("CT-CAC-0127"), "{md}");
        assert!(md.contains("## 1. Errores conocidos de la DIAN (1)"), "{md}");
        assert!(md.contains("### FAD06 — Valor del CUFE no está calculado correctamente."), "{md}");
        assert!(md.contains("- **Códigos:** FAD06, CAD06"), "{md}");
        assert!(md.contains("- **Significado:** El hash no coincide"), "{md}");
        assert!(
            md.contains("```text\nRevise con su proveedor tecnológico:\n1. La clave técnica"),
            "{md}"
        );
        assert!(!md.contains("FAJ43"), "no first-contact answer: {md}");
        assert!(md.contains("## 2. Soluciones de agentes para primer contacto (1)"), "{md}");
        assert!(md.contains("### Caso FE-2026-000007 — Factura rechazada"), "{md}");
        assert!(md.contains("- **Tema:** Factura electrónica de venta"), "{md}");
        assert!(md.contains("- **Autor:** ana.rojas@dian.gov.co"), "{md}");
        assert!(md.contains("```text\nHola.\n\n1. Corrija el NIT.\n2. Reenvíe.\n```"), "{md}");
        assert!(!md.contains("- **Significado:** \n"), "{md}");
        assert!(md.ends_with("```\n"), "{md}");
    }

    #[test]
    fn markdown_neutralizes_markup_from_the_mail() {
        let guide = Guide::new(
            &KnowledgeBase::default(),
            &[solution("*Urgente* <script> [link](x)\n# título", "Use ```xml``` así.")],
        );
        let md = guide.to_markdown();
        assert!(
            md.contains("\\*Urgente\\* \\<script\\> \\[link\\](x) \\# título"),
            "escaped on one line: {md}"
        );
        assert!(md.contains("````text\nUse ```xml``` así.\n````"), "longer fence: {md}");
        assert!(md.contains("no tiene respuestas de primer contacto"), "{md}");
    }

    #[test]
    fn csv_does_not_let_a_subject_run_as_a_formula() {
        let guide = Guide::new(&base(), &[solution("=HYPERLINK(\"http://x\")", "Respuesta")]);
        let records = parse_csv(&guide.to_csv());
        let row = records.last().expect("the agent's row");
        assert!(row.iter().any(|f| f == "'=HYPERLINK(\"http://x\")"), "{row:?}");
    }

    #[test]
    fn an_empty_guide_says_so() {
        let guide = Guide::new(&KnowledgeBase::default(), &[]);
        let md = guide.to_markdown();
        assert!(md.contains("Todavía no hay soluciones de agentes"), "{md}");
        assert_eq!(parse_csv(&guide.to_csv()), [CSV_COLUMNS]);
    }

    #[test]
    fn the_builtin_base_gives_every_answer() {
        let base = KnowledgeBase::builtin();
        let guide = Guide::new(&base, &[]);
        let with_answer = base.entries().iter().filter(|e| e.first_contact_answer.is_some());
        assert_eq!(guide.items.len(), with_answer.count());
        let md = guide.to_markdown();
        assert!(md.contains("### FAD06 — "), "{md}");
        let records = parse_csv(&guide.to_csv());
        assert_eq!(records.len(), guide.items.len() + 1);
        assert!(records.iter().all(|r| r.len() == CSV_COLUMNS.len()));
    }
}
