//! Subject lines of a conversation: the reply prefixes mail clients stack up and our `[FE-…]`
//! case tags. One list for the case tag on outgoing answers and for Outlook's `Thread-Topic`,
//! so that both see the same subject underneath.

/// Words mail clients put before a colon on replies and forwards, in the languages our
/// requesters' clients use: English (RE, FW, FWD), Spanish (RE, RV), Portuguese (RES, ENC),
/// Italian (R, RIF), French (TR), German (AW, WG), and out-of-office answers. Lower case; compared without regard to case. A prefix counts only when its word is
/// followed by a colon, optionally after spaces ("Re :" is what French Outlook writes), so a
/// subject that merely starts with "Re" ("Regla FAD06") keeps its first word.
const REPLY_WORDS: [&str; 14] = [
    "re",
    "rv",
    "fw",
    "fwd",
    "tr",
    "aw",
    "wg",
    "res",
    "enc",
    "rif",
    "r",
    "auto",
    "respuesta automática",
    "respuesta automatica",
];

/// The subject without the reply prefixes at its start, however many are stacked
/// ("RE: RV: Re: x" → "x"). Leading and trailing whitespace go too.
pub fn strip_reply_prefixes(subject: &str) -> &str {
    let mut rest = subject.trim();
    while let Some(after) = REPLY_WORDS.iter().find_map(|word| after_prefix(rest, word)) {
        rest = after;
    }
    rest
}

/// What follows `word` + optional spaces + `:` at the start of `text`, trimmed on the left.
fn after_prefix<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    // `get` rather than slicing: the subject comes from outside and may have a multi-byte
    // character where the word would end.
    let head = text.get(..word.len())?;
    if head.to_lowercase() != word {
        return None;
    }
    let after_word = text[word.len()..].trim_start_matches(' ');
    after_word.strip_prefix(':').map(str::trim_start)
}

/// The subject without any `[FE-…]` tag (case-insensitive), wherever it is; each tag leaves a
/// space so the words around it stay apart.
pub fn strip_case_tags(subject: &str) -> String {
    let mut out = String::with_capacity(subject.len());
    let mut rest = subject;
    while let Some(start) = rest.find('[') {
        let after = &rest[start + 1..];
        let is_tag = after.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("fe-"));
        match after.find(']') {
            Some(end) if is_tag => {
                out.push_str(&rest[..start]);
                out.push(' ');
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str(&rest[..=start]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_prefixes_of_every_client_language_go() {
        let table = [
            ("RE: Factura rechazada", "Factura rechazada"),
            ("Re: Factura rechazada", "Factura rechazada"),
            ("re:Factura rechazada", "Factura rechazada"),
            ("RV: Factura rechazada", "Factura rechazada"),
            ("FW: Factura rechazada", "Factura rechazada"),
            ("Fwd: Factura rechazada", "Factura rechazada"),
            ("FWD: Factura rechazada", "Factura rechazada"),
            ("RES: Nota crédito", "Nota crédito"),
            ("ENC: Nota crédito", "Nota crédito"),
            ("RIF: Fattura respinta", "Fattura respinta"),
            ("R: Fattura respinta", "Fattura respinta"),
            ("AW: Rechnung", "Rechnung"),
            ("WG: Rechnung", "Rechnung"),
            ("TR: Facture rejetée", "Facture rejetée"),
            ("Re : Facture rejetée", "Facture rejetée"),
            ("RE  :  Facture rejetée", "Facture rejetée"),
            ("RE: RV: Re: Factura rechazada", "Factura rechazada"),
            ("Fwd: FW: TR: AW: re: Nota crédito", "Nota crédito"),
            ("RES: ENC: RIF: R: Consulta", "Consulta"),
            ("Respuesta automática: Consulta RADIAN", "Consulta RADIAN"),
            ("RESPUESTA AUTOMATICA: Consulta RADIAN", "Consulta RADIAN"),
            ("Auto: Consulta RADIAN", "Consulta RADIAN"),
            ("  RE:   Factura  ", "Factura"),
            ("RE: ", ""),
            ("", ""),
        ];
        for (subject, expected) in table {
            assert_eq!(strip_reply_prefixes(subject), expected, "subject {subject:?}");
        }
    }

    #[test]
    fn words_that_merely_start_like_a_prefix_stay() {
        let table = [
            "Regla FAD06",
            "Resolución de facturación",
            "Envío de nota crédito",
            "Rechazo: CUFE inválido",
            "Factura RE: rechazada",
            "[Aranda #4455] Re: Soporte",
            "Rª: sin dos puntos",
            "Rñ",
            "Réplica",
        ];
        for subject in table {
            assert_eq!(strip_reply_prefixes(subject), subject, "subject {subject:?}");
        }
    }

    #[test]
    fn case_tags_go_wherever_they_are() {
        assert_eq!(strip_case_tags("[FE-2026-000123] Factura"), "  Factura");
        assert_eq!(
            strip_case_tags("Re: Factura [fe-2026-000123] rechazada"),
            "Re: Factura   rechazada"
        );
        assert_eq!(strip_case_tags("[Aranda #4455] Soporte"), "[Aranda #4455] Soporte");
        assert_eq!(strip_case_tags("[FE-sin cierre"), "[FE-sin cierre");
        assert_eq!(strip_case_tags("[[FE-1]]"), "[ ]");
    }
}
