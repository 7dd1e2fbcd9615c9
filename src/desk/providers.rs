//! The registry of technology providers (proveedores tecnológicos): who may write to the aliados
//! buzón, and whose software signed an invoice. Loaded from the configuration (`[[proveedores]]`)
//! and from the CSV an operator imports (`mesa-fe proveedores importar`), kept in the store.

use serde::{Deserialize, Serialize};

/// One registered provider.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Digits only, without the check digit ("900123456").
    pub nit: String,
    #[serde(rename = "nombre")]
    pub name: String,
    /// E-mail domains it writes from ("proveedor.com.co"), lower-case.
    #[serde(rename = "dominios", default)]
    pub domains: Vec<String>,
    /// Single addresses it writes from (when the domain is shared, e.g. gmail.com), lower-case.
    #[serde(rename = "direcciones", default)]
    pub addresses: Vec<String>,
    #[serde(rename = "activo", default = "active_by_default")]
    pub active: bool,
}

fn active_by_default() -> bool {
    true
}

/// The providers the desk knows, from configuration and the imported CSV.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registry {
    providers: Vec<Provider>,
}

impl Registry {
    pub fn new(providers: Vec<Provider>) -> Registry {
        Registry { providers }
    }

    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// The active provider a sender belongs to: by its exact address first, then by its domain.
    pub fn find_sender(&self, address: &str) -> Option<&Provider> {
        let address = address.trim().to_lowercase();
        let domain = address.rsplit_once('@').map(|(_, d)| d)?;
        let active = || self.providers.iter().filter(|p| p.active);
        active()
            .find(|p| p.addresses.iter().any(|a| a.eq_ignore_ascii_case(&address)))
            .or_else(|| active().find(|p| p.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))))
    }

    /// The provider with this NIT (any form: "900.123.456-7", "900123456"), active or not.
    pub fn by_nit(&self, nit: &str) -> Option<&Provider> {
        let digits = crate::dian::nit::normalize_nit(nit).map(|(n, _)| n)?;
        self.providers.iter().find(|p| p.nit == digits)
    }
}

/// What is wrong with one provider: the field (`nit`, `nombre`, `dominios`, `direcciones`; the
/// same word is the CSV column and the configuration key) and the operator's message, in Spanish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderProblem {
    pub field: &'static str,
    pub message: String,
}

impl ProviderProblem {
    fn new(field: &'static str, message: impl Into<String>) -> ProviderProblem {
        ProviderProblem { field, message: message.into() }
    }
}

impl Provider {
    /// The provider as the registry keeps it, or what is wrong with it: NIT as digits only
    /// (written in any form, see [`crate::dian::nit::normalize_nit`]), name trimmed with its
    /// spaces collapsed and not empty, domains and addresses trimmed, lower-case, without empty
    /// or repeated entries and well formed, and at least one domain or address.
    pub fn normalized(&self) -> Result<Provider, ProviderProblem> {
        let nit = crate::dian::nit::normalize_nit(&self.nit).map(|(digits, _)| digits).ok_or_else(
            || {
                ProviderProblem::new(
                    "nit",
                    format!(
                        "\"{}\" no es un NIT: escriba los dígitos, con o sin puntos y dígito de \
                         verificación, por ejemplo 900.123.456-7",
                        self.nit.trim()
                    ),
                )
            },
        )?;
        let name = self.name.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            return Err(ProviderProblem::new("nombre", "falta el nombre del proveedor"));
        }
        let domains = clean_list(&self.domains);
        if let Some(bad) = domains.iter().find(|d| !is_domain(d)) {
            return Err(ProviderProblem::new(
                "dominios",
                format!(
                    "\"{bad}\" no es un dominio de correo: use letras, dígitos, puntos y guiones, \
                     con al menos un punto y sin @ (por ejemplo proveedor.com.co)"
                ),
            ));
        }
        let addresses = clean_list(&self.addresses);
        if let Some(bad) = addresses.iter().find(|a| !is_address(a)) {
            return Err(ProviderProblem::new(
                "direcciones",
                format!(
                    "\"{bad}\" no es una dirección de correo: debe tener una sola @ y un dominio \
                     después de ella (por ejemplo soporte@proveedor.com.co)"
                ),
            ));
        }
        if domains.is_empty() && addresses.is_empty() {
            return Err(ProviderProblem::new(
                "dominios",
                format!(
                    "el proveedor {nit} no tiene dominios ni direcciones: indique al menos uno \
                     de los dos para reconocer sus correos"
                ),
            ));
        }
        Ok(Provider { nit, name, domains, addresses, active: self.active })
    }
}

/// Trimmed, lower-case, without empty or repeated entries, in the order written.
fn clean_list(items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let item = item.trim().to_lowercase();
        if !item.is_empty() && !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// Labels of letters, digits and inner hyphens joined by dots; at least two labels.
fn is_domain(text: &str) -> bool {
    let labels: Vec<&str> = text.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

/// Exactly one '@', a local part without spaces or separators, a domain after it.
fn is_address(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else { return false };
    !local.is_empty()
        && !local
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '@' | ',' | ';' | '<' | '>' | '"'))
        && is_domain(domain)
}

/// A line of the providers CSV that cannot be imported. `line` is the physical line (1-based)
/// where the record starts, as a text editor numbers it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("línea {line}: {message}")]
pub struct CsvError {
    pub line: usize,
    pub message: String,
}

impl CsvError {
    fn new(line: usize, message: impl Into<String>) -> CsvError {
        CsvError { line, message: message.into() }
    }
}

/// The columns of the providers CSV, as the header names them.
const COLUMNS: [&str; 5] = ["nit", "nombre", "dominios", "direcciones", "activo"];

/// Reads the providers CSV that operators import with `mesa-fe proveedores importar`: all the
/// providers, or the first error (so that nothing is imported from a file with a mistake).
///
/// Format:
/// - UTF-8 text; a byte-order mark (BOM, as Excel writes "CSV UTF-8") is accepted. Lines end in
///   LF or CRLF.
/// - The first non-empty row is the header: `nit,nombre,dominios,direcciones,activo`. Names are
///   case-insensitive and may come in any order (the rows follow the header's order);
///   `nit`, `nombre` and `dominios` are required, `direcciones` and `activo` optional. An
///   unknown or repeated column is an error.
/// - Comma separator; RFC 4180 quoting: a field in double quotes may contain commas, line breaks
///   and doubled quotes (`""` is one `"`). Every row has as many fields as the header.
/// - `nit`: the NIT in any written form ("900.123.456-7", "NIT 900123456", "900123456"); kept as
///   digits only, without the check digit. A NIT may appear only once in the file.
/// - `nombre`: not empty (spaces and line breaks inside are collapsed to one space).
/// - `dominios` and `direcciones`: lists separated by `;`, trimmed and lower-cased; empty parts
///   are dropped. A domain is letters, digits, dots and hyphens with at least one dot
///   (`proveedor.com.co`); an address has exactly one `@` and a domain after it. Each provider
///   needs at least one domain or address.
/// - `activo`: `si`/`sí`/`no`/`true`/`false`/`1`/`0` (any case); empty or absent column = `si`.
/// - Empty rows (nothing, or only commas and spaces) are skipped.
///
/// Errors name the physical line (1-based) where the offending record starts.
pub fn parse_csv(text: &str) -> Result<Vec<Provider>, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Records { chars: text.chars().peekable(), line: 1 };
    let (header_line, header) = loop {
        match records.next_record()? {
            None => {
                return Err(CsvError::new(
                    1,
                    "el archivo está vacío: falta el encabezado nit,nombre,dominios,direcciones,activo",
                ));
            }
            Some(record) if record.is_blank() => continue,
            Some(record) => break (record.line, record.fields),
        }
    };
    let columns = header_columns(header_line, &header)?;
    let mut providers: Vec<Provider> = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    while let Some(record) = records.next_record()? {
        if record.is_blank() {
            continue;
        }
        let line = record.line;
        if record.fields.len() != header.len() {
            return Err(CsvError::new(
                line,
                format!(
                    "la fila tiene {} columnas y el encabezado {}; si un valor lleva comas, \
                     escríbalo entre comillas dobles",
                    record.fields.len(),
                    header.len()
                ),
            ));
        }
        let field = |name: &str| {
            columns.iter().position(|c| *c == name).map_or("", |i| record.fields[i].as_str())
        };
        let split = |value: &str| value.split(';').map(str::to_string).collect::<Vec<_>>();
        let active = parse_active(field("activo")).ok_or_else(|| {
            CsvError::new(
                line,
                format!(
                    "activo: \"{}\" no es un valor válido; use si, no, true, false, 1 o 0",
                    field("activo").trim()
                ),
            )
        })?;
        let written = Provider {
            nit: field("nit").to_string(),
            name: field("nombre").to_string(),
            domains: split(field("dominios")),
            addresses: split(field("direcciones")),
            active,
        };
        let provider = written
            .normalized()
            .map_err(|p| CsvError::new(line, format!("{}: {}", p.field, p.message)))?;
        if let Some(first) = seen.insert(provider.nit.clone(), line) {
            return Err(CsvError::new(
                line,
                format!(
                    "nit: el NIT {} está repetido (ya aparece en la línea {first})",
                    provider.nit
                ),
            ));
        }
        providers.push(provider);
    }
    Ok(providers)
}

/// The column of each header field, checked: known names, no repeats, the required ones.
fn header_columns(line: usize, header: &[String]) -> Result<Vec<&'static str>, CsvError> {
    if header.len() == 1 && header[0].contains(';') {
        return Err(CsvError::new(
            line,
            "el separador debe ser la coma, y este archivo parece usar punto y coma (así guarda \
             Excel en español): guárdelo como \"CSV UTF-8 (delimitado por comas)\"",
        ));
    }
    let mut columns: Vec<&'static str> = Vec::with_capacity(header.len());
    for name in header {
        let wanted = name.trim().to_lowercase();
        let Some(column) = COLUMNS.iter().find(|c| **c == wanted) else {
            return Err(CsvError::new(
                line,
                format!(
                    "columna desconocida \"{}\" en el encabezado; las columnas son: {}",
                    name.trim(),
                    COLUMNS.join(",")
                ),
            ));
        };
        if columns.contains(column) {
            return Err(CsvError::new(line, format!("la columna \"{column}\" está repetida")));
        }
        columns.push(*column);
    }
    if let Some(missing) = ["nit", "nombre", "dominios"].into_iter().find(|c| !columns.contains(c))
    {
        return Err(CsvError::new(
            line,
            format!(
                "falta la columna \"{missing}\" en el encabezado (la primera fila debe ser \
                 {})",
                COLUMNS.join(",")
            ),
        ));
    }
    Ok(columns)
}

fn parse_active(text: &str) -> Option<bool> {
    match text.trim().to_lowercase().as_str() {
        "" | "si" | "sí" | "true" | "1" => Some(true),
        "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// One CSV record and the physical line it starts on.
struct Record {
    line: usize,
    fields: Vec<String>,
}

impl Record {
    fn is_blank(&self) -> bool {
        self.fields.iter().all(|f| f.trim().is_empty())
    }
}

/// RFC 4180 records over the text, counting physical lines (LF, CRLF or a lone CR end a line).
struct Records<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

impl Records<'_> {
    /// Consumes a line break starting with `c` ('\n', or '\r' with an optional '\n').
    fn line_break(&mut self, c: char) -> bool {
        match c {
            '\n' => {}
            '\r' => {
                self.chars.next_if_eq(&'\n');
            }
            _ => return false,
        }
        self.line += 1;
        true
    }

    fn next_record(&mut self) -> Result<Option<Record>, CsvError> {
        let start = self.line;
        if self.chars.peek().is_none() {
            return Ok(None);
        }
        let mut fields = Vec::new();
        let mut field = String::new();
        // Whether the current field started with a quote, and whether that quote is still open.
        let mut quoted = false;
        let mut open = false;
        loop {
            let Some(c) = self.chars.next() else {
                if open {
                    return Err(CsvError::new(
                        start,
                        "unas comillas dobles abiertas en esta fila no se cierran antes del fin \
                         del archivo",
                    ));
                }
                fields.push(field);
                return Ok(Some(Record { line: start, fields }));
            };
            if open {
                match c {
                    '"' if self.chars.next_if_eq(&'"').is_some() => field.push('"'),
                    '"' => open = false,
                    '\r' | '\n' => {
                        self.line_break(c);
                        field.push('\n');
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    quoted = false;
                }
                '\r' | '\n' => {
                    self.line_break(c);
                    fields.push(field);
                    return Ok(Some(Record { line: start, fields }));
                }
                '"' if !quoted && field.trim().is_empty() => {
                    field.clear();
                    quoted = true;
                    open = true;
                }
                _ if quoted && c.is_whitespace() => {}
                _ if quoted => {
                    return Err(CsvError::new(
                        start,
                        format!(
                            "hay texto después de cerrar las comillas de un campo (\"{c}\"); \
                             dentro de comillas, una comilla se escribe doble: \"\""
                        ),
                    ));
                }
                _ => field.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        Registry::new(vec![
            Provider {
                nit: "900123456".into(),
                name: "Facturas Andinas SAS".into(),
                domains: vec!["andinas.com.co".into()],
                addresses: vec![],
                active: true,
            },
            Provider {
                nit: "800555111".into(),
                name: "Proveedor Gmail".into(),
                domains: vec![],
                addresses: vec!["proveedor.ltda@gmail.com".into()],
                active: true,
            },
            Provider {
                nit: "811000222".into(),
                name: "Retirado SA".into(),
                domains: vec!["retirado.co".into()],
                addresses: vec![],
                active: false,
            },
        ])
    }

    #[test]
    fn senders_match_by_address_then_domain_and_only_active_ones() {
        let r = registry();
        assert_eq!(
            r.find_sender("Soporte@Andinas.com.co").map(|p| p.nit.as_str()),
            Some("900123456")
        );
        assert_eq!(
            r.find_sender("proveedor.ltda@gmail.com").map(|p| p.nit.as_str()),
            Some("800555111")
        );
        assert_eq!(r.find_sender("otro@gmail.com"), None);
        assert_eq!(r.find_sender("x@retirado.co"), None);
        assert_eq!(r.find_sender("no-es-correo"), None);
    }

    #[test]
    fn nits_match_in_any_written_form() {
        let r = registry();
        assert_eq!(
            r.by_nit("900.123.456-7").map(|p| p.name.as_str()),
            Some("Facturas Andinas SAS")
        );
        assert_eq!(r.by_nit("811000222").map(|p| p.active), Some(false));
        assert_eq!(r.by_nit("123"), None);
    }

    fn error(text: &str) -> CsvError {
        parse_csv(text).expect_err("the file must be refused")
    }

    #[test]
    fn csv_with_bom_crlf_quotes_and_multiline_fields_is_read_whole() {
        let text = "\u{feff}NIT,Nombre,Dominios,Direcciones,Activo\r\n\
                    900.123.456-7,\"Facturas Andinas, S.A.S.\",Andinas.com.co; facturas-andinas.co ,,si\r\n\
                    \r\n\
                    NIT 800555111,\"El \"\"Proveedor\"\"\nLtda\",,\"Proveedor.Ltda@Gmail.com;\r\notro@gmail.com\",\r\n\
                    811000222,Retirado SA,retirado.co,,NO\r\n";
        let providers = parse_csv(text).expect("valid file");
        assert_eq!(
            providers,
            vec![
                Provider {
                    nit: "900123456".into(),
                    name: "Facturas Andinas, S.A.S.".into(),
                    domains: vec!["andinas.com.co".into(), "facturas-andinas.co".into()],
                    addresses: vec![],
                    active: true,
                },
                Provider {
                    nit: "800555111".into(),
                    name: "El \"Proveedor\" Ltda".into(),
                    domains: vec![],
                    addresses: vec!["proveedor.ltda@gmail.com".into(), "otro@gmail.com".into()],
                    active: true,
                },
                Provider {
                    nit: "811000222".into(),
                    name: "Retirado SA".into(),
                    domains: vec!["retirado.co".into()],
                    addresses: vec![],
                    active: false,
                },
            ]
        );
        let registry = Registry::new(providers);
        assert_eq!(
            registry.find_sender("otro@gmail.com").map(|p| p.nit.as_str()),
            Some("800555111")
        );
    }

    #[test]
    fn optional_columns_may_be_missing_and_come_in_any_order() {
        let text = "dominios,nit,nombre\nandinas.com.co,900123456,Andinas\n,,\n";
        let providers = parse_csv(text).expect("valid file");
        assert_eq!(providers.len(), 1);
        assert_eq!(providers[0].nit, "900123456");
        assert!(providers[0].active, "activo defaults to si");
        assert!(providers[0].addresses.is_empty());
        for (written, active) in
            [("sí", true), ("TRUE", true), ("1", true), ("false", false), ("0", false)]
        {
            let text = format!("nit,nombre,dominios,activo\n900123456,A,a.co,{written}\n");
            assert_eq!(parse_csv(&text).expect("valid")[0].active, active, "{written}");
        }
        assert_eq!(parse_csv("nit,nombre,dominios\n"), Ok(vec![]));
    }

    #[test]
    fn header_problems_are_named_on_their_line() {
        let e = error("");
        assert_eq!(e.line, 1);
        assert!(e.message.contains("encabezado"), "{e}");
        let e = error("\n\nnit,nombre,dominio\n");
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("columna desconocida \"dominio\""), "{e}");
        let e = error("nit,nombre\n900123456,A\n");
        assert!(e.message.contains("falta la columna \"dominios\""), "{e}");
        let e = error("nit,nombre,dominios,NIT\n");
        assert!(e.message.contains("repetida"), "{e}");
        let e = error("nit;nombre;dominios\n900123456;A;a.co\n");
        assert!(e.message.contains("punto y coma"), "{e}");
    }

    #[test]
    fn each_field_error_names_the_line_and_the_column() {
        let header = "nit,nombre,dominios,direcciones,activo\n";
        let good = "900123456,Andinas,andinas.com.co,,si\n";
        let cases = [
            ("9001234X6,Andinas,andinas.com.co,,si", "nit:"),
            ("800555111,  ,a.co,,si", "nombre:"),
            ("800555111,B,proveedor,,si", "dominios: \"proveedor\""),
            ("800555111,B,@proveedor.co,,si", "dominios:"),
            ("800555111,B,a..co,,si", "dominios:"),
            ("800555111,B,,soporte.proveedor.co,si", "direcciones: \"soporte.proveedor.co\""),
            ("800555111,B,,a@b@proveedor.co,si", "direcciones:"),
            ("800555111,B,,soporte@proveedor,si", "direcciones:"),
            ("800555111,B, ; ,;,si", "ni direcciones"),
            ("800555111,B,b.co,,tal vez", "activo: \"tal vez\""),
            ("800555111,B,b.co,si", "columnas"),
            ("800555111,B,b.co,,si,extra", "columnas"),
        ];
        for (row, expected) in cases {
            let e = error(&format!("{header}{good}\n{row}\n"));
            assert_eq!(e.line, 4, "{row}: {e}");
            assert!(e.message.contains(expected), "{row}: {e}");
            assert!(e.to_string().starts_with("línea 4: "), "{e}");
        }
    }

    #[test]
    fn lines_count_physical_lines_after_multiline_quoted_fields() {
        let text = "nit,nombre,dominios\n\
                    900123456,\"Andinas\nSegunda línea\nTercera\",andinas.com.co\n\
                    800555111,B,sin-punto\n";
        let e = error(text);
        assert_eq!(e.line, 5, "{e}");
        assert!(e.message.contains("sin-punto"), "{e}");
        let crlf = text.replace('\n', "\r\n");
        assert_eq!(error(&crlf).line, 5);
    }

    #[test]
    fn broken_quotes_name_the_line_where_the_record_starts() {
        let e =
            error("nit,nombre,dominios\n900123456,A,a.co\n800555111,\"B,b.co\n811000222,C,c.co\n");
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("no se cierran"), "{e}");
        let e = error("nit,nombre,dominios\n800555111,\"B\" SAS,b.co\n");
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("después de cerrar las comillas"), "{e}");
        // A quote inside an unquoted field is just a character.
        let ok = parse_csv("nit,nombre,dominios\n800555111,El \"B\" SAS,b.co\n").expect("valid");
        assert_eq!(ok[0].name, "El \"B\" SAS");
    }

    #[test]
    fn a_repeated_nit_is_refused_in_any_written_form() {
        let e = error(
            "nit,nombre,dominios\n900123456,A,a.co\n800555111,B,b.co\n900.123.456-8,C,c.co\n",
        );
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("900123456") && e.message.contains("línea 2"), "{e}");
    }
}
