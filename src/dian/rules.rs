//! Rejection rules written as text ("Regla: FAD06, Rechazo: …", "Regla: FAJ43b, Notificación: …").
//!
//! DIAN writes each rule on one line of a SOAP reply; requesters paste the same lines into
//! e-mails, often with accents lost or the case changed, so matching is ASCII case-insensitive
//! and tolerant about spaces and the accent of "Notificación".

use super::Rejection;

/// Longest rule code accepted ("FAD06", "NIAE191", "90"…); longer words are prose.
const MAX_CODE_LEN: usize = 12;

/// Finds DIAN rule lines in free text (a SOAP reply, a pasted log, an e-mail body), in order of
/// appearance, one per rule code (the first mention wins). A description runs to the end of its
/// line or to the next "Regla:".
pub fn rejections_in_text(text: &str) -> Vec<Rejection> {
    let mut found: Vec<Rejection> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut pos = 0;
    while let Some(at) = find_ignore_case(text, "regla", pos) {
        pos = at + "regla".len();
        let Some(head) = parse_head(text, pos) else { continue };
        let end = description_end(text, head.description_start);
        let description = text[head.description_start..end].trim().trim_end_matches([',', ';']);
        if seen.insert(head.code.to_ascii_uppercase()) {
            found.push(Rejection {
                code: head.code.to_string(),
                description: description.trim_end().to_string(),
                notification: head.notification,
            });
        }
        pos = end;
    }
    found
}

/// The severity word a line description may start with ("Notificación: …", "Rechazo: …"):
/// `Some((is_notification, rest))`, or `None` when the text starts with neither.
pub(crate) fn leading_severity(text: &str) -> Option<(bool, &str)> {
    let text = text.trim_start();
    let (notification, after_word) = severity(text, 0)?;
    let rest = text[after_word..].trim_start();
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    Some((notification, rest.trim()))
}

/// What follows "Regla": the code, the severity and where the description starts.
struct Head<'a> {
    code: &'a str,
    notification: bool,
    description_start: usize,
}

/// Parses `: CODE, Rechazo:` / `: CODE, Notificación:` starting right after the word "Regla".
fn parse_head(text: &str, pos: usize) -> Option<Head<'_>> {
    let mut pos = skip_spaces(text, pos);
    pos = skip_spaces(text, skip_byte(text, pos, b':')?);
    let code_len = text[pos..].bytes().take_while(u8::is_ascii_alphanumeric).count();
    let code = &text[pos..pos + code_len];
    if code.is_empty() || code.len() > MAX_CODE_LEN || !code.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    pos = skip_spaces(text, pos + code_len);
    pos = skip_spaces(text, skip_byte(text, pos, b',')?);
    let (notification, after_word) = severity(text, pos)?;
    let after_colon = skip_byte(text, skip_spaces(text, after_word), b':')?;
    Some(Head { code, notification, description_start: after_colon })
}

/// Reads "Rechazo" or "Notificación" (any case, accent optional or mangled) at `pos`.
fn severity(text: &str, pos: usize) -> Option<(bool, usize)> {
    let rest = &text[pos..];
    if starts_with_ignore_case(rest, "rechazo") {
        return Some((false, pos + "rechazo".len()));
    }
    if !starts_with_ignore_case(rest, "notificaci") {
        return None;
    }
    // The "ó" may be "ó", "Ó", "o", or a replacement character left by a bad charset.
    let after_stem = &rest["notificaci".len()..];
    let accent = after_stem.chars().next()?;
    let after_accent = &after_stem[accent.len_utf8()..];
    if !starts_with_ignore_case(after_accent, "n") {
        return None;
    }
    Some((true, text.len() - after_accent.len() + 1))
}

/// End of a description: the end of its line or the next "Regla:" on the same line. Read only
/// up to that end, so a long line of rules costs one pass, not one pass per rule.
fn description_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    for pos in start..bytes.len() {
        match bytes[pos] {
            b'\n' | b'\r' => return pos,
            // An ASCII byte starts a character, so `pos` is a boundary.
            b'r' | b'R' if starts_with_ignore_case(&text[pos..], "regla") => {
                let after = skip_spaces(text, pos + "regla".len());
                if bytes.get(after) == Some(&b':') {
                    return pos;
                }
            }
            _ => {}
        }
    }
    bytes.len()
}

fn skip_spaces(text: &str, pos: usize) -> usize {
    pos + text[pos..].bytes().take_while(|b| *b == b' ' || *b == b'\t').count()
}

fn skip_byte(text: &str, pos: usize, byte: u8) -> Option<usize> {
    (text.as_bytes().get(pos) == Some(&byte)).then_some(pos + 1)
}

fn starts_with_ignore_case(text: &str, word: &str) -> bool {
    text.as_bytes().get(..word.len()).is_some_and(|head| head.eq_ignore_ascii_case(word.as_bytes()))
}

/// Byte offset of the next ASCII case-insensitive `word` at or after `from`. ASCII folding keeps
/// byte offsets valid in the original text.
fn find_ignore_case(text: &str, word: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let word = word.as_bytes();
    (from..=bytes.len().checked_sub(word.len())?)
        .find(|&i| bytes[i..i + word.len()].eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(found: &[Rejection]) -> Vec<&str> {
        found.iter().map(|r| r.code.as_str()).collect()
    }

    #[test]
    fn reads_a_rejection_line() {
        let found = rejections_in_text(
            "Regla: FAD06, Rechazo: Valor del CUFE no está calculado correctamente.",
        );
        assert_eq!(
            found,
            vec![Rejection {
                code: "FAD06".into(),
                description: "Valor del CUFE no está calculado correctamente.".into(),
                notification: false,
            }]
        );
    }

    #[test]
    fn reads_a_notification_with_or_without_accent_and_in_any_case() {
        for text in [
            "Regla: FAJ43b, Notificación: Nombre informado No corresponde al registrado en el RUT",
            "regla: FAJ43b, notificacion: Nombre informado No corresponde al registrado en el RUT",
            "REGLA:FAJ43b ,NOTIFICACIÓN : Nombre informado No corresponde al registrado en el RUT",
        ] {
            let found = rejections_in_text(text);
            assert_eq!(codes(&found), ["FAJ43b"], "{text}");
            assert!(found[0].notification, "{text}");
            assert_eq!(
                found[0].description,
                "Nombre informado No corresponde al registrado en el RUT"
            );
        }
    }

    #[test]
    fn several_rules_on_one_line_split_at_each_regla() {
        let found = rejections_in_text(
            "Errores: Regla: FAB05b, Rechazo: Número de la resolución no corresponde. Regla: FAD06, Rechazo: CUFE mal calculado.",
        );
        assert_eq!(codes(&found), ["FAB05b", "FAD06"]);
        assert_eq!(found[0].description, "Número de la resolución no corresponde.");
        assert_eq!(found[1].description, "CUFE mal calculado.");
    }

    #[test]
    fn description_stops_at_end_of_line() {
        let found = rejections_in_text(
            "> Regla: 90, Rechazo: Documento procesado anteriormente.\r\n> Saludos, Marta\n",
        );
        assert_eq!(codes(&found), ["90"]);
        assert_eq!(found[0].description, "Documento procesado anteriormente.");
    }

    #[test]
    fn duplicates_are_dropped_keeping_order_and_first_text() {
        let text = "Regla: FAJ26, Rechazo: primero\nRegla: FAD06, Rechazo: cufe\nregla: faj26, rechazo: repetido\n";
        let found = rejections_in_text(text);
        assert_eq!(codes(&found), ["FAJ26", "FAD06"]);
        assert_eq!(found[0].description, "primero");
    }

    #[test]
    fn prose_that_mentions_regla_is_not_a_rule() {
        assert!(
            rejections_in_text("La regla general es enviar el XML. Regla de oro: paciencia.")
                .is_empty()
        );
        assert!(rejections_in_text("Regla: FAD06 sin severidad").is_empty());
        assert!(rejections_in_text("Regla: , Rechazo: sin código").is_empty());
        assert!(rejections_in_text("").is_empty());
        assert!(rejections_in_text("regla").is_empty());
    }

    #[test]
    fn leading_severity_splits_the_word_off() {
        assert_eq!(
            leading_severity("Notificación: RUT en revisión"),
            Some((true, "RUT en revisión"))
        );
        assert_eq!(leading_severity(" rechazo : CUFE mal"), Some((false, "CUFE mal")));
        assert_eq!(leading_severity("Valor del CUFE no está calculado"), None);
    }

    #[test]
    fn mangled_accent_still_counts_as_notification() {
        let found = rejections_in_text("Regla: RUT01, Notificaci\u{fffd}n: La validación del RUT");
        assert_eq!(codes(&found), ["RUT01"]);
        assert!(found[0].notification);
    }
}
