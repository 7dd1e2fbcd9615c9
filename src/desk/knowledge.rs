//! The known-error base (CT-CAC-0127, "solución en primer contacto"): DIAN rejection rules with
//! what they mean and the answer a requester gets at once.
//!
//! The base is a TOML file of `[[error]]` entries (`config/errores_conocidos.toml` is built in;
//! operators may point `[general] base_conocimiento` at their own copy). Loading validates every
//! entry and reports problems in Spanish with the file, line, entry and field, so an operator can
//! fix the file without reading code. Lookups are case-insensitive and cover each entry's
//! equivalent codes (the same check in credit notes, debit notes, events, documento soporte…).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::io::Read;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The base shipped with mesa-fe, used when the configuration names no file.
pub const BUILTIN_TOML: &str = include_str!("../../config/errores_conocidos.toml");

/// How the built-in base is named in messages.
pub const BUILTIN_ORIGIN: &str = "errores_conocidos.toml (base incorporada)";

/// Largest known-error file read, in bytes (the built-in one is about 50 KiB).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Keys an `[[error]]` entry may carry.
const FIELDS: [&str; 6] = [
    "codigo",
    "equivalentes",
    "tipo",
    "mensaje_oficial",
    "significado",
    "respuesta_primer_contacto",
];

crate::names::named_enum! {
    /// Whether a DIAN rule blocks the document or only warns.
    ///
    /// This is the severity the rule usually has: some rules moved between the two across versions
    /// of the anexo técnico, so the `Rechazo:` / `Notificación:` word of the actual DIAN message wins.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Severity {
        /// "Rechazo": the document is not validated.
        Rechazo = "rechazo",
        /// "Notificación": the document is validated; DIAN only warns.
        Notificacion = "notificacion",
    }
}

impl Severity {
    /// Reads a `tipo` value: case-insensitive, surrounding spaces ignored, accent optional.
    pub fn read(name: &str) -> Option<Severity> {
        Severity::parse(&crate::text::fold(name.trim()))
    }

    /// The word DIAN uses in its messages.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Rechazo => "Rechazo",
            Severity::Notificacion => "Notificación",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One known error.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct KnownError {
    /// DIAN rule code, e.g. `FAD06`.
    #[serde(rename = "codigo")]
    pub code: String,
    /// Parallel codes of the same check in other documents (CAD06, DAD06…).
    #[serde(rename = "equivalentes", default)]
    pub equivalents: Vec<String>,
    /// Usual severity of the rule (the DIAN message itself has the last word).
    #[serde(rename = "tipo")]
    pub severity: Severity,
    /// DIAN's own message.
    #[serde(rename = "mensaje_oficial")]
    pub official_message: String,
    /// What it means, for an agent.
    #[serde(rename = "significado")]
    pub meaning: String,
    /// The first-contact answer sent to the requester; absent when the error needs an agent.
    #[serde(rename = "respuesta_primer_contacto", default)]
    pub first_contact_answer: Option<String>,
}

impl KnownError {
    /// The entry's own code followed by its equivalents.
    pub fn codes(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.code.as_str()).chain(self.equivalents.iter().map(String::as_str))
    }
}

/// The loaded base, looked up by code (case-insensitive, equivalents included).
#[derive(Debug, Clone, Default)]
pub struct KnowledgeBase {
    entries: Vec<KnownError>,
    /// Normalized code (and equivalent) → position in `entries`.
    index: HashMap<String, usize>,
    origin: String,
}

impl KnowledgeBase {
    /// The base built into the program.
    ///
    /// # Panics
    /// If the built-in file is broken: a programming error, caught by the unit tests.
    pub fn builtin() -> KnowledgeBase {
        KnowledgeBase::from_toml(BUILTIN_TOML, BUILTIN_ORIGIN)
            .expect("config/errores_conocidos.toml (built in) must be a valid known-error base")
    }

    /// Parses and validates a base; `origin` names it in error messages (usually the path).
    pub fn from_toml(text: &str, origin: &str) -> Result<KnowledgeBase, KnowledgeError> {
        // Editors on Windows may save a byte-order mark; it is not part of the TOML.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let source = Source { text, origin };
        let document = DeTable::parse(text).map_err(|error| source.syntax_error(&error))?;
        let items = source.entry_items(document.get_ref())?;
        let mut entries = Vec::with_capacity(items.len());
        let mut lines = Vec::with_capacity(items.len());
        for (position, item) in items.iter().enumerate() {
            let reader = EntryReader::new(&source, position + 1, item)?;
            lines.push(reader.header_line);
            entries.push(reader.read()?);
        }
        let index = build_index(&source, &entries, &lines)?;
        Ok(KnowledgeBase { entries, index, origin: origin.to_owned() })
    }

    /// Reads and validates a base file (blocking; meant for start-up and reload).
    pub fn load(path: &Path) -> Result<KnowledgeBase, KnowledgeError> {
        let origin = path.display().to_string();
        let bytes = read_capped(path, &origin)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| KnowledgeError::NotUtf8 { origin: origin.clone() })?;
        KnowledgeBase::from_toml(&text, &origin)
    }

    /// Where the base came from (a path or [`BUILTIN_ORIGIN`]).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// All entries, in file order.
    pub fn entries(&self) -> &[KnownError] {
        &self.entries
    }

    /// Number of entries (not counting equivalents).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the base has no entry (only the `Default` value).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry for a rule code or any of its equivalents, ignoring case and surrounding spaces.
    pub fn get(&self, code: &str) -> Option<&KnownError> {
        self.index.get(&normalize(code)).and_then(|&position| self.entries.get(position))
    }

    /// The known entries for `codes`, in the given order, each entry once (FAD06 and CAD06 give
    /// one entry). Unknown codes are skipped.
    pub fn known<I>(&self, codes: I) -> Vec<&KnownError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut seen = vec![false; self.entries.len()];
        let mut found = Vec::new();
        for code in codes {
            let Some(&position) = self.index.get(&normalize(code.as_ref())) else { continue };
            let (Some(already), Some(entry)) = (seen.get_mut(position), self.entries.get(position))
            else {
                continue;
            };
            if !*already {
                *already = true;
                found.push(entry);
            }
        }
        found
    }

    /// Like [`KnowledgeBase::known`], keeping only entries that have a first-contact answer.
    pub fn first_contact<I>(&self, codes: I) -> Vec<&KnownError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut found = self.known(codes);
        found.retain(|entry| entry.first_contact_answer.is_some());
        found
    }
}

/// A known-error base that cannot be used. `Display` is Spanish, names the file, the line, the
/// entry and the field, and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error(
        "no se pudo leer la base de errores conocidos {path}: {cause}. Revise la ruta configurada \
         en [general] base_conocimiento y los permisos del archivo."
    )]
    Read { path: String, cause: std::io::Error },
    #[error(
        "la base de errores conocidos {path} supera el máximo de {limit} bytes. Revise que la \
         ruta apunte al archivo correcto."
    )]
    TooLarge { path: String, limit: u64 },
    #[error(
        "{origin}: el archivo no está codificado en UTF-8. Guárdelo con codificación UTF-8 y \
         vuelva a cargarlo."
    )]
    NotUtf8 { origin: String },
    #[error(
        "{origin}, línea {line}, columna {column}: error de sintaxis TOML ({detail}). Corrija ese \
         punto del archivo y vuelva a cargarlo."
    )]
    Syntax { origin: String, line: usize, column: usize, detail: String },
    #[error(
        "{origin}: el archivo no tiene ninguna entrada [[error]]. Agregue al menos una entrada, o \
         deje vacía la clave base_conocimiento para usar la base incorporada."
    )]
    NoEntries { origin: String },
    #[error("{origin}, línea {line}: {problem}")]
    Layout { origin: String, line: usize, problem: LayoutProblem },
    #[error("{origin}, línea {line}, {}: {problem}", entry_label(.index, .code))]
    Entry { origin: String, line: usize, index: usize, code: Option<String>, problem: EntryProblem },
}

/// A problem with the shape of the file, outside any entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutProblem {
    #[error(
        "la clave «{0}» no es válida fuera de una entrada. El archivo solo admite entradas \
         [[error]]; si es un campo, escríbalo debajo del encabezado [[error]] de su entrada."
    )]
    UnknownKey(String),
    #[error(
        "«error» debe ser una lista de entradas. Escriba cada entrada con el encabezado [[error]] \
         (doble corchete)."
    )]
    NotAList,
}

/// A problem inside one `[[error]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    #[error(
        "la entrada no es una tabla. Escriba cada entrada con el encabezado [[error]] seguido de \
         sus campos, uno por línea."
    )]
    NotATable,
    #[error(
        "el campo «{0}» no existe. Los campos válidos son codigo, equivalentes, tipo, \
         mensaje_oficial, significado y respuesta_primer_contacto; revise la ortografía."
    )]
    UnknownField(String),
    #[error("falta el campo obligatorio «{0}». Agréguelo a la entrada.")]
    MissingField(&'static str),
    #[error("el campo «{0}» está vacío. Escriba su contenido.")]
    EmptyField(&'static str),
    #[error(
        "el campo «respuesta_primer_contacto» está vacío. Escriba la respuesta, o borre el campo \
         si este error debe atenderlo un agente."
    )]
    EmptyAnswer,
    #[error("el campo «{field}» debe ser {expected}, pero es {found}.")]
    WrongType { field: &'static str, expected: &'static str, found: &'static str },
    #[error(
        "el código «{code}» del campo «{field}» no es válido: use solo letras y números, sin \
         espacios ni signos (por ejemplo FAD06 o 90)."
    )]
    InvalidCode { field: &'static str, code: String },
    #[error(
        "tipo = \"{0}\" no es válido. Use \"rechazo\" (el documento no queda validado) o \
         \"notificacion\" (el documento queda validado con una advertencia)."
    )]
    UnknownSeverity(String),
    #[error("el código «{0}» está repetido dentro de esta entrada. Déjelo una sola vez.")]
    RepeatedCode(String),
    #[error(
        "el código «{code}» ya está en la entrada n.º {first_index} (línea {first_line}). Cada \
         código debe aparecer una sola vez en el archivo, como codigo o como equivalente: borre \
         el repetido o una las dos entradas."
    )]
    DuplicateCode { code: String, first_index: usize, first_line: usize },
}

/// "entrada n.º 3 (codigo "FAD06")", or without the code when it could not be read.
fn entry_label(index: &usize, code: &Option<String>) -> String {
    match code {
        Some(code) => format!("entrada n.º {index} (codigo \"{code}\")"),
        None => format!("entrada n.º {index}"),
    }
}

/// Lookup key of a code.
fn normalize(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

fn is_valid_code(code: &str) -> bool {
    !code.is_empty() && code.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Spanish name of a TOML value's type, for error messages.
fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "un texto",
        DeValue::Integer(_) => "un número entero",
        DeValue::Float(_) => "un número decimal",
        DeValue::Boolean(_) => "un valor true/false",
        DeValue::Datetime(_) => "una fecha",
        DeValue::Array(_) => "una lista",
        DeValue::Table(_) => "una tabla",
    }
}

/// What a text field should look like, for `WrongType`.
fn expected_text(field: &str) -> &'static str {
    match field {
        "codigo" => "un texto entre comillas, por ejemplo codigo = \"90\"",
        "tipo" => "un texto entre comillas: \"rechazo\" o \"notificacion\"",
        _ => "un texto entre comillas (use comillas triples \"\"\" para varias líneas)",
    }
}

const EXPECTED_LIST: &str =
    "una lista de textos, por ejemplo equivalentes = [\"CAD06\", \"DAD06\"]";

/// Reads at most [`MAX_FILE_BYTES`] of a file.
fn read_capped(path: &Path, origin: &str) -> Result<Vec<u8>, KnowledgeError> {
    let read_error = |cause| KnowledgeError::Read { path: origin.to_owned(), cause };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(read_error)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_FILE_BYTES {
        return Err(KnowledgeError::TooLarge { path: origin.to_owned(), limit: MAX_FILE_BYTES });
    }
    Ok(bytes)
}

/// The text being parsed and its name, for positions in error messages.
struct Source<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Source<'_> {
    /// 1-based line and column (in characters) of a byte offset.
    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.as_bytes().get(..offset).unwrap_or_default();
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let column = self
            .text
            .get(line_start..offset)
            .map_or(offset - line_start, |prefix| prefix.chars().count());
        (line, column + 1)
    }

    fn line(&self, span: &Range<usize>) -> usize {
        self.position(span.start).0
    }

    fn syntax_error(&self, error: &toml::de::Error) -> KnowledgeError {
        let (line, column) = self.position(error.span().map_or(0, |span| span.start));
        KnowledgeError::Syntax {
            origin: self.origin.to_owned(),
            line,
            column,
            detail: error.message().to_owned(),
        }
    }

    fn entry_error(
        &self,
        line: usize,
        index: usize,
        code: Option<String>,
        problem: EntryProblem,
    ) -> KnowledgeError {
        KnowledgeError::Entry { origin: self.origin.to_owned(), line, index, code, problem }
    }

    fn layout_error(&self, span: &Range<usize>, problem: LayoutProblem) -> KnowledgeError {
        KnowledgeError::Layout { origin: self.origin.to_owned(), line: self.line(span), problem }
    }

    /// The `[[error]]` items of the document; any other top-level key is refused.
    fn entry_items<'t, 'i>(
        &self,
        document: &'t DeTable<'i>,
    ) -> Result<&'t [Spanned<DeValue<'i>>], KnowledgeError> {
        let mut items: &[Spanned<DeValue<'i>>] = &[];
        for (key, value) in document.iter() {
            if key.get_ref() != "error" {
                let problem = LayoutProblem::UnknownKey(key.get_ref().to_string());
                return Err(self.layout_error(&key.span(), problem));
            }
            match value.get_ref() {
                DeValue::Array(array) => items = array,
                _ => return Err(self.layout_error(&key.span(), LayoutProblem::NotAList)),
            }
        }
        if items.is_empty() {
            return Err(KnowledgeError::NoEntries { origin: self.origin.to_owned() });
        }
        Ok(items)
    }
}

/// Reads the fields of one `[[error]]` entry.
struct EntryReader<'s, 't, 'i> {
    source: &'s Source<'s>,
    /// 1-based position of the entry in the file.
    index: usize,
    header_line: usize,
    table: &'t DeTable<'i>,
    /// The entry's code once read, to name the entry in later errors.
    code: Option<String>,
}

impl<'s, 't, 'i> EntryReader<'s, 't, 'i> {
    fn new(
        source: &'s Source<'s>,
        index: usize,
        item: &'t Spanned<DeValue<'i>>,
    ) -> Result<Self, KnowledgeError> {
        let header_line = source.line(&item.span());
        match item.get_ref() {
            DeValue::Table(table) => {
                Ok(EntryReader { source, index, header_line, table, code: None })
            }
            _ => Err(source.entry_error(header_line, index, None, EntryProblem::NotATable)),
        }
    }

    fn fail(&self, span: Option<&Range<usize>>, problem: EntryProblem) -> KnowledgeError {
        let line = span.map_or(self.header_line, |span| self.source.line(span));
        self.source.entry_error(line, self.index, self.code.clone(), problem)
    }

    fn read(mut self) -> Result<KnownError, KnowledgeError> {
        let code = self.required_text("codigo")?;
        if !is_valid_code(&code) {
            let span = self.value_span("codigo");
            return Err(
                self.fail(span.as_ref(), EntryProblem::InvalidCode { field: "codigo", code })
            );
        }
        self.code = Some(code.clone());
        self.refuse_unknown_fields()?;
        let equivalents = self.equivalents(&code)?;
        let severity_text = self.required_text("tipo")?;
        let severity = Severity::read(&severity_text).ok_or_else(|| {
            let span = self.value_span("tipo");
            self.fail(span.as_ref(), EntryProblem::UnknownSeverity(severity_text.clone()))
        })?;
        let official_message = self.required_text("mensaje_oficial")?;
        let meaning = self.required_text("significado")?;
        let first_contact_answer = match self.optional_text("respuesta_primer_contacto")? {
            Some(answer) if answer.is_empty() => {
                let span = self.value_span("respuesta_primer_contacto");
                return Err(self.fail(span.as_ref(), EntryProblem::EmptyAnswer));
            }
            answer => answer,
        };
        Ok(KnownError {
            code,
            equivalents,
            severity,
            official_message,
            meaning,
            first_contact_answer,
        })
    }

    fn value_span(&self, field: &str) -> Option<Range<usize>> {
        self.table.get(field).map(Spanned::span)
    }

    fn refuse_unknown_fields(&self) -> Result<(), KnowledgeError> {
        match self.table.keys().find(|key| !FIELDS.contains(&key.get_ref().as_ref())) {
            Some(key) => {
                Err(self
                    .fail(Some(&key.span()), EntryProblem::UnknownField(key.get_ref().to_string())))
            }
            None => Ok(()),
        }
    }

    /// A text field, trimmed; `None` when absent.
    fn optional_text(&self, field: &'static str) -> Result<Option<String>, KnowledgeError> {
        let Some(value) = self.table.get(field) else { return Ok(None) };
        match value.get_ref() {
            DeValue::String(text) => Ok(Some(text.trim().to_owned())),
            other => Err(self.fail(
                Some(&value.span()),
                EntryProblem::WrongType {
                    field,
                    expected: expected_text(field),
                    found: type_name(other),
                },
            )),
        }
    }

    /// A text field that must be present and not blank; trimmed.
    fn required_text(&self, field: &'static str) -> Result<String, KnowledgeError> {
        match self.optional_text(field)? {
            None => Err(self.fail(None, EntryProblem::MissingField(field))),
            Some(text) if text.is_empty() => {
                let span = self.value_span(field);
                Err(self.fail(span.as_ref(), EntryProblem::EmptyField(field)))
            }
            Some(text) => Ok(text),
        }
    }

    fn equivalents(&self, code: &str) -> Result<Vec<String>, KnowledgeError> {
        let field = "equivalentes";
        let Some(value) = self.table.get(field) else { return Ok(Vec::new()) };
        let wrong_type = |span: &Range<usize>, found| {
            self.fail(Some(span), EntryProblem::WrongType { field, expected: EXPECTED_LIST, found })
        };
        let DeValue::Array(items) = value.get_ref() else {
            return Err(wrong_type(&value.span(), type_name(value.get_ref())));
        };
        let mut equivalents: Vec<String> = Vec::with_capacity(items.len());
        for item in items.iter() {
            let DeValue::String(text) = item.get_ref() else {
                return Err(wrong_type(&item.span(), type_name(item.get_ref())));
            };
            let equivalent = text.trim().to_owned();
            if equivalent.is_empty() {
                return Err(self.fail(Some(&item.span()), EntryProblem::EmptyField(field)));
            }
            if !is_valid_code(&equivalent) {
                let problem = EntryProblem::InvalidCode { field, code: equivalent };
                return Err(self.fail(Some(&item.span()), problem));
            }
            let key = normalize(&equivalent);
            if key == normalize(code) || equivalents.iter().any(|seen| normalize(seen) == key) {
                return Err(self.fail(Some(&item.span()), EntryProblem::RepeatedCode(equivalent)));
            }
            equivalents.push(equivalent);
        }
        Ok(equivalents)
    }
}

/// Maps every code and equivalent to its entry; a code may belong to one entry only.
fn build_index(
    source: &Source<'_>,
    entries: &[KnownError],
    lines: &[usize],
) -> Result<HashMap<String, usize>, KnowledgeError> {
    let line_of = |position: usize| lines.get(position).copied().unwrap_or(0);
    let mut index = HashMap::new();
    for (position, entry) in entries.iter().enumerate() {
        for code in entry.codes() {
            match index.entry(normalize(code)) {
                Entry::Vacant(slot) => {
                    slot.insert(position);
                }
                Entry::Occupied(slot) => {
                    let first = *slot.get();
                    let problem = EntryProblem::DuplicateCode {
                        code: code.to_owned(),
                        first_index: first + 1,
                        first_line: line_of(first),
                    };
                    let code = Some(entry.code.clone());
                    return Err(source.entry_error(line_of(position), position + 1, code, problem));
                }
            }
        }
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn broken(text: &str) -> KnowledgeError {
        match KnowledgeBase::from_toml(text, "prueba.toml") {
            Ok(base) => panic!("expected an error, loaded {} entries", base.len()),
            Err(error) => error,
        }
    }

    const GOOD_ENTRY: &str = r#"
[[error]]
codigo = "FAD06"
equivalentes = ["CAD06"]
tipo = "rechazo"
mensaje_oficial = "Valor del CUFE no está calculado correctamente."
significado = "El hash no coincide."
respuesta_primer_contacto = """
Revise la clave técnica.
"""
"#;

    #[test]
    fn builtin_loads_with_at_least_30_entries() {
        let base = KnowledgeBase::builtin();
        assert!(base.len() >= 30, "only {} entries", base.len());
        assert!(!base.is_empty());
        assert_eq!(base.origin(), BUILTIN_ORIGIN);
    }

    #[test]
    fn builtin_entries_have_official_message_and_meaning() {
        for entry in KnowledgeBase::builtin().entries() {
            assert!(!entry.official_message.trim().is_empty(), "{}: mensaje_oficial", entry.code);
            assert!(!entry.meaning.trim().is_empty(), "{}: significado", entry.code);
        }
    }

    #[test]
    fn builtin_codes_are_unique_across_codes_and_equivalents() {
        let mut seen = HashSet::new();
        for entry in KnowledgeBase::builtin().entries() {
            for code in entry.codes() {
                assert!(seen.insert(code.to_ascii_uppercase()), "{code} appears twice");
            }
        }
    }

    #[test]
    fn builtin_answers_are_three_to_eight_lines_without_trailing_spaces() {
        for entry in KnowledgeBase::builtin().entries() {
            let Some(answer) = &entry.first_contact_answer else { continue };
            let lines = answer.lines().count();
            assert!((3..=8).contains(&lines), "{}: {lines} lines", entry.code);
            assert!(answer.lines().all(|l| l == l.trim_end()), "{}: trailing space", entry.code);
        }
    }

    #[test]
    fn builtin_file_has_no_trailing_whitespace() {
        for (number, line) in BUILTIN_TOML.lines().enumerate() {
            assert_eq!(line, line.trim_end(), "line {} ends in whitespace", number + 1);
        }
    }

    #[test]
    fn lookup_is_case_insensitive_and_covers_equivalents() {
        let base = KnowledgeBase::builtin();
        let fad06 = base.get("FAD06").expect("FAD06 is in the base");
        assert_eq!(fad06.code, "FAD06");
        for code in ["fad06", "CAD06", "cad06", " Cad06 ", "NSAD06", "dsad06"] {
            assert_eq!(base.get(code).map(|e| e.code.as_str()), Some("FAD06"), "{code}");
        }
        assert_eq!(base.get("fab27B").map(|e| e.code.as_str()), Some("FAB27b"));
        assert_eq!(base.get("AAB27b").map(|e| e.code.as_str()), Some("FAB27b"));
        assert!(base.get("XYZ99").is_none());
        assert!(base.get("").is_none());
    }

    #[test]
    fn required_rules_have_a_first_contact_answer() {
        let base = KnowledgeBase::builtin();
        for code in ["FAD06", "FAB05b", "FAB07b", "FAB27b"] {
            let entry = base.get(code).unwrap_or_else(|| panic!("{code} missing"));
            let answer = entry.first_contact_answer.as_deref().unwrap_or_default();
            assert!(!answer.trim().is_empty(), "{code} has no first-contact answer");
        }
    }

    #[test]
    fn severities_come_from_the_file() {
        let base = KnowledgeBase::builtin();
        assert_eq!(base.get("FAD06").map(|e| e.severity), Some(Severity::Rechazo));
        assert_eq!(base.get("FAB10b").map(|e| e.severity), Some(Severity::Notificacion));
        assert_eq!(base.get("RUT01").map(|e| e.severity), Some(Severity::Notificacion));
        assert_eq!(Severity::read(" Notificación "), Some(Severity::Notificacion));
        assert_eq!(Severity::read("RECHAZO"), Some(Severity::Rechazo));
        assert_eq!(Severity::read("aviso"), None);
    }

    #[test]
    fn first_contact_keeps_order_dedups_and_skips_agent_cases() {
        let base = KnowledgeBase::builtin();
        assert!(base.get("90").is_some_and(|e| e.first_contact_answer.is_none()));
        let codes = ["FAB27b", "90", "CAD06", "nope", "fad06", "aab27b"];
        let answered: Vec<&str> =
            base.first_contact(codes).iter().map(|e| e.code.as_str()).collect();
        assert_eq!(answered, ["FAB27b", "FAD06"]);
        let known: Vec<&str> = base.known(codes).iter().map(|e| e.code.as_str()).collect();
        assert_eq!(known, ["FAB27b", "90", "FAD06"]);
        assert!(base.first_contact(Vec::<String>::new()).is_empty());
    }

    #[test]
    fn entry_fields_are_trimmed() {
        let base = KnowledgeBase::from_toml(GOOD_ENTRY, "prueba.toml").expect("valid");
        let entry = base.get("cad06").expect("equivalent found");
        assert_eq!(entry.first_contact_answer.as_deref(), Some("Revise la clave técnica."));
        assert_eq!(base.len(), 1);
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let text = format!("{GOOD_ENTRY}\n[[error]]\ncodigo = \"FAB27b\ntipo = \"rechazo\"\n");
        let error = broken(&text);
        assert!(matches!(error, KnowledgeError::Syntax { line: 13, .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.starts_with("prueba.toml, línea 13"), "{message}");
        assert!(message.contains("error de sintaxis TOML"), "{message}");
    }

    #[test]
    fn duplicated_code_names_both_entries() {
        let text = format!(
            "{GOOD_ENTRY}{}",
            GOOD_ENTRY.replace("codigo = \"FAD06\"", "codigo = \"DAD06\"")
        );
        let error = broken(&text);
        let KnowledgeError::Entry { index: 2, problem: EntryProblem::DuplicateCode { .. }, .. } =
            &error
        else {
            panic!("unexpected {error:?}");
        };
        let message = error.to_string();
        assert!(message.contains("entrada n.º 2"), "{message}");
        assert!(message.contains("«CAD06» ya está en la entrada n.º 1 (línea 2)"), "{message}");
        assert!(message.contains("codigo \"DAD06\""), "{message}");
    }

    #[test]
    fn code_repeated_inside_an_entry_is_refused() {
        let error = broken(&GOOD_ENTRY.replace("[\"CAD06\"]", "[\"CAD06\", \"fad06\"]"));
        assert!(
            matches!(&error, KnowledgeError::Entry { problem, .. }
                if *problem == EntryProblem::RepeatedCode("fad06".into())),
            "{error:?}"
        );
    }

    #[test]
    fn empty_code_is_refused_in_spanish() {
        let error = broken(&GOOD_ENTRY.replace("codigo = \"FAD06\"", "codigo = \"  \""));
        assert!(
            matches!(
                error,
                KnowledgeError::Entry { problem: EntryProblem::EmptyField("codigo"), line: 3, .. }
            ),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("entrada n.º 1"), "{message}");
        assert!(message.contains("el campo «codigo» está vacío"), "{message}");
    }

    #[test]
    fn unknown_severity_is_refused_in_spanish() {
        let error = broken(&GOOD_ENTRY.replace("tipo = \"rechazo\"", "tipo = \"grave\""));
        let message = error.to_string();
        assert!(message.contains("codigo \"FAD06\""), "{message}");
        assert!(message.contains("tipo = \"grave\" no es válido"), "{message}");
        assert!(message.contains("\"notificacion\""), "{message}");
    }

    #[test]
    fn misspelled_field_is_refused() {
        let error = broken(&GOOD_ENTRY.replace("significado", "significadoo"));
        let message = error.to_string();
        assert!(message.contains("el campo «significadoo» no existe"), "{message}");
        assert!(message.contains("línea 7"), "{message}");
    }

    #[test]
    fn missing_field_and_wrong_types_are_refused() {
        let error = broken(&GOOD_ENTRY.replace("mensaje_oficial = ", "# "));
        assert!(error.to_string().contains("falta el campo obligatorio «mensaje_oficial»"));

        let error = broken(&GOOD_ENTRY.replace("codigo = \"FAD06\"", "codigo = 90"));
        let message = error.to_string();
        assert!(message.contains("debe ser un texto entre comillas"), "{message}");
        assert!(message.contains("un número entero"), "{message}");

        let error = broken(&GOOD_ENTRY.replace("[\"CAD06\"]", "\"CAD06\""));
        assert!(error.to_string().contains("una lista de textos"), "{error}");

        let error = broken(&GOOD_ENTRY.replace("[\"CAD06\"]", "[\"CA D06\"]"));
        assert!(error.to_string().contains("«CA D06»"), "{error}");
    }

    #[test]
    fn empty_answer_is_refused() {
        let error = broken(&GOOD_ENTRY.replace("Revise la clave técnica.", ""));
        assert!(
            matches!(error, KnowledgeError::Entry { problem: EntryProblem::EmptyAnswer, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn file_shape_problems_are_refused() {
        assert!(matches!(broken(""), KnowledgeError::NoEntries { .. }));
        assert!(matches!(broken("# solo comentarios\n"), KnowledgeError::NoEntries { .. }));
        let error = broken(&format!("version = 2\n{GOOD_ENTRY}"));
        assert!(
            matches!(&error, KnowledgeError::Layout { line: 1, problem, .. }
                if *problem == LayoutProblem::UnknownKey("version".into())),
            "{error:?}"
        );
        let error = broken("[error]\ncodigo = \"90\"\n");
        assert!(error.to_string().contains("[[error]] (doble corchete)"), "{error}");
        let error = broken("error = [\"90\"]\n");
        assert!(
            matches!(error, KnowledgeError::Entry { problem: EntryProblem::NotATable, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn load_reads_a_file_and_reports_a_missing_one() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("errores.toml");
        std::fs::write(&path, format!("\u{feff}{GOOD_ENTRY}")).expect("write fixture");
        let base = KnowledgeBase::load(&path).expect("valid file");
        assert_eq!(base.len(), 1);
        assert_eq!(base.origin(), path.display().to_string());

        let missing = dir.path().join("no-existe.toml");
        let error = KnowledgeBase::load(&missing).expect_err("missing file");
        let message = error.to_string();
        assert!(message.starts_with("no se pudo leer la base de errores conocidos"), "{message}");
        assert!(message.contains("no-existe.toml"), "{message}");

        std::fs::write(&path, b"codigo = \"\xff\"\n").expect("write fixture");
        let error = KnowledgeBase::load(&path).expect_err("not UTF-8");
        assert!(matches!(error, KnowledgeError::NotUtf8 { .. }), "{error:?}");
    }
}
