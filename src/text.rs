//! Text helpers shared by the mail parser, the DIAN reader and the classifier.

use unicode_normalization::UnicodeNormalization;

pub mod subject;

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

/// Text for a log line that may quote a server or a parser (an SMTP 550 names the recipient):
/// e-mail addresses keep only their first letter and domain (`r***@example.com`) and runs of
/// 6 digits or more (NITs, phone and document numbers) keep only their last two.
pub fn mask_personal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&mask_word(word));
    }
    out
}

fn mask_word(word: &str) -> String {
    if let Some(at) = word.find('@') {
        let start = word[..at].rfind(|c: char| !(c.is_alphanumeric() || "._%+-".contains(c)));
        let local_start = start.map_or(0, |s| s + 1);
        if at > local_start {
            let first = word[local_start..].chars().next().unwrap_or('*');
            return format!("{}{first}***{}", &word[..local_start], &word[at..]);
        }
    }
    let mut out = String::with_capacity(word.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 6 {
            out.push_str(&"*".repeat(digits.len() - 2));
            out.push_str(&digits[digits.len() - 2..]);
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in word.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

/// A quantity as a Spanish (Colombia) reader writes it: `3` for 3.0 (never "3.0"), `1,5` for
/// 1.5 (decimal comma), at most two decimals; a value that is not finite is `0`.
pub fn spanish_number(value: f64) -> String {
    if !value.is_finite() {
        return "0".into();
    }
    let rounded = (value * 100.0).round() / 100.0;
    if rounded.fract() == 0.0 {
        return format!("{rounded:.0}");
    }
    let written = format!("{rounded:.2}");
    written.trim_end_matches('0').replace('.', ",")
}

/// A reader of RFC 4180 (quotes, doubled quotes, CRLF), to check in tests what a spreadsheet
/// gets back from [`csv_record`].
#[cfg(test)]
pub(crate) fn read_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF outside quotes");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && record.is_empty(), "the last record ends in CRLF");
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_read_as_spanish_writes_them() {
        assert_eq!(spanish_number(3.0), "3");
        assert_eq!(spanish_number(1.5), "1,5");
        assert_eq!(spanish_number(0.25), "0,25");
        assert_eq!(spanish_number(2.0 / 3.0), "0,67");
        assert_eq!(spanish_number(10.0), "10");
        assert_eq!(spanish_number(-1.0), "-1");
        assert_eq!(spanish_number(f64::NAN), "0");
    }

    #[test]
    fn personal_data_is_masked_in_log_text() {
        assert_eq!(
            mask_personal("550 5.1.1 <rosa.privada@example.com>: Recipient address rejected"),
            "550 5.1.1 <r***@example.com>: Recipient address rejected"
        );
        assert_eq!(mask_personal("NIT 901234567-8, puerto 587"), "NIT *******67-8, puerto 587");
    }

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
