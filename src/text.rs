//! Text helpers shared by the mail parser, the DIAN reader and the classifier.

use unicode_normalization::UnicodeNormalization;

/// Lower-cases and strips diacritics so that rules match "Habilitación", "HABILITACION" and
/// "habilitacion" alike. `ñ` becomes `n`, which is what a person typing without accents writes.
pub fn fold(text: &str) -> String {
    text.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `phrase` occurs in `haystack` starting at a word boundary. Both should be [`fold`]ed.
/// Only the start is anchored so that "factura" also finds "facturas" and "facturación".
pub fn contains_phrase(haystack: &str, phrase: &str) -> bool {
    if phrase.is_empty() {
        return false;
    }
    haystack
        .match_indices(phrase)
        .any(|(at, _)| haystack[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric()))
}

/// Appends one CSV record (RFC 4180, CRLF): fields with a comma, a quote, CR or LF go in double
/// quotes, quotes doubled. A field that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`
/// first: text may come from outside mail) starts with an apostrophe instead; numbers stay as
/// they are.
pub fn csv_record(out: &mut String, fields: &[&str]) {
    for (i, value) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let neutralized;
        let value = if value.starts_with(['=', '+', '-', '@']) && value.parse::<f64>().is_err() {
            neutralized = format!("'{value}");
            neutralized.as_str()
        } else {
            value
        };
        if value.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&value.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(value);
        }
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrase_matches_at_word_start_only() {
        assert!(contains_phrase("la factura rechazada", "factura"));
        assert!(contains_phrase("facturacion electronica", "factura"));
        assert!(!contains_phrase("prefactura", "factura"));
        assert!(contains_phrase("set de pruebas", "set de pruebas"));
        assert!(!contains_phrase("algo", ""));
    }

    #[test]
    fn fold_strips_accents_and_case() {
        assert_eq!(fold("Habilitación ÑANDÚ Título"), "habilitacion nandu titulo");
    }
}
