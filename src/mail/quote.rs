//! The requester's own words, without quoted history and signatures.
//!
//! Replies carry the whole thread below the new text; classifying on that would re-read the
//! desk's own questions ("Para atender su solicitud necesitamos el XML…") as if the requester
//! had written them. [`own_words`] keeps what was written on top and cuts at the first line
//! that starts quoted history or a signature. It works on lines and never fails.
//!
//! Forwards: when a forward marker ("---------- Forwarded message ---------") has no own
//! words above it, the forwarded text *is* the request (someone passing on a provider's
//! message), so its body is kept, without the forward's header block and with its own history
//! and signature cut the same way.

/// How many lines after a `De:`/`From:` line may hold the rest of a quoted header block
/// (one header may wrap onto a second line).
const HEADER_BLOCK_WINDOW: usize = 6;

/// Keys of the other fields of a quoted header block, lower-cased, without the colon.
const BLOCK_KEYS: [&str; 10] =
    ["enviado", "sent", "fecha", "date", "para", "to", "asunto", "subject", "cc", "cco"];

/// Mobile and webmail footers that end the own text (compared lower-cased, at line start).
const MOBILE_SIGNATURES: [&str; 6] = [
    "enviado desde mi ",
    "obtener outlook para",
    "sent from my ",
    "get outlook for",
    "enviado desde outlook",
    "enviado desde correo",
];

/// What a line means for the cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// History starts here (reply header, "Mensaje original", attribution line).
    Quote,
    /// A forward marker: history, unless there is nothing above it.
    Forward,
    /// A signature starts here.
    Signature,
}

/// The requester's own words: `text` cut at the first line that starts quoted history or a
/// signature, lines starting with `>` dropped, trailing blank lines trimmed.
pub fn own_words(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.split('\n').collect();
    let (end, cut) = first_cut(&lines);
    let kept = keep_own_lines(&lines[..end]);
    if kept.is_empty() && cut == Some(Cut::Forward) {
        return forwarded_body(&lines[end + 1..]);
    }
    kept
}

/// Index of the first line where own text ends, and why (`lines.len()` and `None` if never).
fn first_cut(lines: &[&str]) -> (usize, Option<Cut>) {
    for i in 0..lines.len() {
        if let Some(cut) = cut_at(lines, i) {
            let start = if cut == Cut::Quote { separator_above(lines, i) } else { i };
            return (start, Some(cut));
        }
    }
    (lines.len(), None)
}

/// Whether line `i` starts history or a signature.
fn cut_at(lines: &[&str], i: usize) -> Option<Cut> {
    let line = lines[i];
    if is_signature_delimiter(line) || is_mobile_signature(line) {
        Some(Cut::Signature)
    } else if is_forward_marker(line) {
        Some(Cut::Forward)
    } else if is_original_message_marker(line)
        || is_header_block(lines, i)
        || is_attribution(lines, i)
    {
        Some(Cut::Quote)
    } else {
        None
    }
}

/// RFC 3676 "-- ". A bare "--" is accepted too: many editors strip the trailing space.
fn is_signature_delimiter(line: &str) -> bool {
    line == "-- " || line == "--"
}

fn is_mobile_signature(line: &str) -> bool {
    let lower = line.trim().to_lowercase();
    MOBILE_SIGNATURES.iter().any(|sig| lower.starts_with(sig))
}

/// The words of a dashed marker line, lower-cased: "-----Original Message-----" → "original message".
fn marker_words(line: &str) -> Option<String> {
    let trimmed = line.trim();
    let inner = trimmed.trim_matches(|c: char| c == '-' || c.is_whitespace());
    (trimmed.starts_with("---") && !inner.is_empty()).then(|| inner.to_lowercase())
}

fn is_original_message_marker(line: &str) -> bool {
    marker_words(line).is_some_and(|w| w == "mensaje original" || w == "original message")
}

/// Gmail/Outlook dashed forward markers and Apple Mail's "Begin forwarded message:".
fn is_forward_marker(line: &str) -> bool {
    if marker_words(line).is_some_and(|w| w == "forwarded message" || w == "mensaje reenviado") {
        return true;
    }
    let lower = line.trim().to_lowercase();
    lower == "begin forwarded message:" || lower == "inicio del mensaje reenviado:"
}

/// The lower-cased key of a `Key: value` line, tolerating `*De:*` (bold turned into stars).
fn header_key(line: &str) -> Option<String> {
    let line = line.trim_start().trim_start_matches('*');
    let (key, _) = line.split_once(':')?;
    let key = key.trim_end_matches('*').trim();
    let plain = !key.is_empty() && key.len() <= 12 && key.chars().all(char::is_alphabetic);
    plain.then(|| key.to_lowercase())
}

/// `De:`/`From:` followed within a few lines by at least two other header fields.
fn is_header_block(lines: &[&str], i: usize) -> bool {
    if !matches!(header_key(lines[i]).as_deref(), Some("de" | "from")) {
        return false;
    }
    let window = lines.iter().skip(i + 1).take(HEADER_BLOCK_WINDOW);
    let others =
        window.filter_map(|l| header_key(l)).filter(|k| BLOCK_KEYS.contains(&k.as_str())).count();
    others >= 2
}

/// "El jue, 26 nov 2026 a las 10:12, Fulano <x@y> escribió:" or "On … wrote:", possibly
/// wrapped onto a second line. A digit or an `@` is required so that prose like
/// "El cliente escribió:" is not taken for an attribution.
fn is_attribution(lines: &[&str], i: usize) -> bool {
    let first = lines[i].trim();
    if !(first.starts_with("El ") || first.starts_with("On ")) {
        return false;
    }
    let joined = match lines.get(i + 1) {
        Some(next) if !ends_attribution(first) => format!("{first} {}", next.trim()),
        _ => first.to_string(),
    };
    ends_attribution(&joined) && joined.chars().any(|c| c.is_ascii_digit() || c == '@')
}

fn ends_attribution(text: &str) -> bool {
    text.ends_with("escribió:") || text.ends_with("wrote:")
}

/// Moves a quote cut up over blank lines and a separator rule ("_____" or "-----") above it,
/// so the rule Outlook puts before "De:" does not stay in the own words.
fn separator_above(lines: &[&str], mut i: usize) -> usize {
    while i > 0 && lines[i - 1].trim().is_empty() {
        i -= 1;
    }
    if i > 0 && is_rule(lines[i - 1]) {
        i -= 1;
    }
    i
}

fn is_rule(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 5 && (t.chars().all(|c| c == '_') || t.chars().all(|c| c == '-'))
}

/// Joins the lines that are not `>` quotes, without leading or trailing blank lines.
fn keep_own_lines(lines: &[&str]) -> String {
    let kept: Vec<&str> =
        lines.iter().copied().filter(|l| !l.trim_start().starts_with('>')).collect();
    let first = kept.iter().position(|l| !l.trim().is_empty());
    let last = kept.iter().rposition(|l| !l.trim().is_empty());
    match (first, last) {
        (Some(a), Some(b)) => kept[a..=b].join("\n"),
        _ => String::new(),
    }
}

/// The body of a forward: the lines after its header block, cut like any text.
fn forwarded_body(lines: &[&str]) -> String {
    let mut start = 0;
    while start < lines.len() && lines[start].trim().is_empty() {
        start += 1;
    }
    while start < lines.len() && is_forward_header_line(lines[start]) {
        start += 1;
    }
    own_words(&lines[start..].join("\n"))
}

/// A header line of a forward ("De: …", "Date: …"); a wrapped address counts too.
fn is_forward_header_line(line: &str) -> bool {
    let is_field = header_key(line)
        .is_some_and(|k| k == "de" || k == "from" || BLOCK_KEYS.contains(&k.as_str()));
    is_field || (line.starts_with(' ') && line.trim_end().ends_with('>'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_kept_and_trailing_blanks_trimmed() {
        assert_eq!(own_words("Hola.\n\nNecesito ayuda.\n\n\n"), "Hola.\n\nNecesito ayuda.");
    }

    #[test]
    fn crlf_is_normalised() {
        assert_eq!(own_words("Hola.\r\nGracias.\r\n"), "Hola.\nGracias.");
    }

    #[test]
    fn outlook_spanish_block_after_underscores() {
        let text = "Adjunto el XML.\n\nCamilo\n\n________________________________\n\
                    De: Mesa <sd@dian.gov.co>\nEnviado: miércoles, 25 de noviembre\n\
                    Para: Camilo <c@x.example>\nAsunto: [FE-1] Factura\n\n\
                    Para atender su solicitud necesitamos el XML.";
        assert_eq!(own_words(text), "Adjunto el XML.\n\nCamilo");
    }

    #[test]
    fn outlook_english_block_without_rule() {
        let text = "See attached.\nFrom: Desk <sd@dian.gov.co>\nSent: Monday\nTo: me\n\
                    Subject: Re: x\n\nOld text";
        assert_eq!(own_words(text), "See attached.");
    }

    #[test]
    fn outlook_block_with_bold_stars() {
        let text = "Listo.\n*De:* Mesa\n*Enviado:* lunes\n*Para:* yo\n*Asunto:* x\nViejo";
        assert_eq!(own_words(text), "Listo.");
    }

    #[test]
    fn a_lone_de_line_is_not_a_header_block() {
        let text = "De: mi parte, todo bien.\nGracias.";
        assert_eq!(own_words(text), text);
    }

    #[test]
    fn original_message_markers() {
        assert_eq!(own_words("Nuevo\n-----Mensaje original-----\nDe: a\nViejo"), "Nuevo");
        assert_eq!(own_words("New\n-----Original Message-----\nFrom: a\nOld"), "New");
    }

    #[test]
    fn gmail_spanish_attribution_on_one_line() {
        let text = "Ya lo envié.\n\nEl jue, 26 nov 2026 a las 10:12, Fulano <x@y.example> \
                    escribió:\n> Por favor envíe el XML";
        assert_eq!(own_words(text), "Ya lo envié.");
    }

    #[test]
    fn gmail_spanish_attribution_wrapped() {
        let text = "Ya lo envié.\n\nEl jue, 26 nov 2026 a las 10:12, Fulano de Tal <\n\
                    fulano@y.example> escribió:\n\n> Por favor envíe el XML";
        assert_eq!(own_words(text), "Ya lo envié.");
    }

    #[test]
    fn gmail_english_attribution() {
        let text = "Done.\n\nOn Thu, Nov 26, 2026 at 10:12 AM Someone <x@y.example> wrote:\n> q";
        assert_eq!(own_words(text), "Done.");
    }

    #[test]
    fn prose_with_escribio_is_not_an_attribution() {
        let text = "El cliente escribió:\nque no le llegó la factura.";
        assert_eq!(own_words(text), text);
    }

    #[test]
    fn quoted_lines_are_dropped() {
        assert_eq!(own_words("> viejo\nNuevo\n> más viejo\nFin"), "Nuevo\nFin");
    }

    #[test]
    fn forward_with_own_words_keeps_only_them() {
        let text = "Les reenvío esto.\n\n---------- Forwarded message ---------\n\
                    From: Proveedor <p@x.example>\nDate: jue\nSubject: Factura\nTo: yo\n\nCuerpo";
        assert_eq!(own_words(text), "Les reenvío esto.");
    }

    #[test]
    fn forward_without_own_words_keeps_the_forwarded_body() {
        let text = "\n---------- Mensaje reenviado ---------\nDe: Proveedor <p@x.example>\n\
                    Date: jue, 26 nov 2026\nSubject: Rechazo\nTo: <yo@x.example>\n\n\
                    La factura FER1 fue rechazada.\n\n-- \nProveedor S.A.S.";
        assert_eq!(own_words(text), "La factura FER1 fue rechazada.");
    }

    #[test]
    fn rfc3676_signature_is_cut() {
        assert_eq!(own_words("Gracias.\n-- \nRosa\nContadora"), "Gracias.");
    }

    #[test]
    fn dashes_inside_a_line_are_not_a_signature() {
        assert_eq!(own_words("NIT 900 -- DV 1\nfin"), "NIT 900 -- DV 1\nfin");
    }

    #[test]
    fn mobile_signatures_are_cut() {
        assert_eq!(own_words("Va el XML.\n\nEnviado desde mi iPhone"), "Va el XML.");
        assert_eq!(own_words("Va.\nEnviado desde mi Android\n\nDe: a"), "Va.");
        assert_eq!(own_words("Va.\n\nObtener Outlook para Android"), "Va.");
    }

    #[test]
    fn empty_and_blank_inputs() {
        assert_eq!(own_words(""), "");
        assert_eq!(own_words("\n \n"), "");
    }

    #[test]
    fn only_quoted_history_gives_nothing() {
        assert_eq!(own_words("On Mon, 1 Jan 2026 someone <a@b> wrote:\n> hola"), "");
    }
}
