//! How a requester's reply to a solution (or to a closed case) reads: a confirmation, the problem
//! persisting, an automatic reply, or unclear.
//!
//! Activity 12 (control posterior) waits for the requester: "Muchas gracias, ya quedó resuelto"
//! closes the case, "sigue saliendo el mismo error" reopens it, and anything the desk cannot
//! read with confidence goes to the agent who solved it instead of moving the case. The same
//! reader answers the "¿se resolvió?" validation of a mass incident.
//!
//! It works on the requester's own words (quoted history and "-- " signatures already cut by
//! [`crate::mail::own_words`]) and cuts what is left of a signature itself: a valediction line
//! ("Cordialmente,") and the legal disclaimer below a name, whose "si lo recibió por error" must
//! not read as a complaint. Pure and total: any text gives a reading.

use crate::text::fold;

crate::names::named_enum! {
    /// What a requester's reply says about the solution.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Reading {
        /// Thanks or a confirmation that it works.
        Confirma = "confirma",
        /// The problem goes on, or a new one came: a complaint, a question, a new DIAN rule,
        /// new files.
        Persiste = "persiste",
        /// An out-of-office or another machine's reply.
        Automatica = "automatica",
        /// Neither: a person must read it.
        NoClara = "no_clara",
    }
}

impl Reading {
    /// How the case history names it (also the answer to the mass-incident validation).
    pub fn label(self) -> &'static str {
        match self {
            Reading::Confirma => "resuelto",
            Reading::Persiste => "no resuelto",
            Reading::Automatica => "respuesta automática",
            Reading::NoClara => "sin respuesta clara",
        }
    }
}

/// A requester's reply as the reader needs it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Answer<'a> {
    /// The requester's own words (no quoted history).
    pub words: &'a str,
    /// The message is machine-generated (RFC 3834 headers, bulk precedence…).
    pub auto_generated: bool,
    /// It reports a DIAN rule the case did not have.
    pub new_rule: bool,
    /// It brings an XML or evidence (an image or a PDF).
    pub new_files: bool,
}

/// The reading of one reply. Order of the evidence: a machine's reply; then anything that says
/// the problem goes on (it outweighs thanks: "gracias, pero sigue fallando"); then a tentative
/// answer ("lo reviso y les cuento"); then thanks or confirmation; else unclear.
pub fn read(answer: &Answer<'_>) -> Reading {
    let text = fold(&body_of(answer.words));
    if answer.auto_generated || AUTOMATIC.iter().any(|p| crate::text::contains_phrase(&text, p)) {
        return Reading::Automatica;
    }
    let cues = cues(&text);
    if answer.new_rule || answer.new_files || cues.problem {
        Reading::Persiste
    } else if cues.tentative {
        Reading::NoClara
    } else if cues.confirm {
        Reading::Confirma
    } else {
        Reading::NoClara
    }
}

/// [`read`] for words alone (no headers, rules or files to weigh).
pub fn read_words(words: &str) -> Reading {
    read(&Answer { words, ..Answer::default() })
}

/// Phrases of out-of-office and no-reply messages sent without their headers.
const AUTOMATIC: [&str; 9] = [
    "respuesta automatica",
    "fuera de la oficina",
    "fuera de oficina",
    "out of office",
    "out of the office",
    "automatic reply",
    "no es monitoreado",
    "me encuentro de vacaciones",
    "me encuentro en vacaciones",
];

/// Lines that end the message (a valediction), compared folded and without punctuation. Only
/// after some text: "Cordial saludo" opens many Colombian letters.
const VALEDICTIONS: [&str; 10] = [
    "cordialmente",
    "atentamente",
    "atte",
    "saludos",
    "saludos cordiales",
    "un saludo",
    "un cordial saludo",
    "feliz dia",
    "quedo atento",
    "quedo atenta",
];

/// Starts of a legal disclaimer (folded): everything from there is boilerplate.
const DISCLAIMERS: [&str; 7] = [
    "aviso de confidencialidad",
    "aviso legal",
    "confidencialidad:",
    "este mensaje y sus anexos",
    "este correo electronico y cualquier",
    "la informacion contenida en este",
    "si usted no es el destinatario",
];

/// The words up to a valediction or a disclaimer.
fn body_of(words: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for line in words.lines() {
        let folded = fold(line.trim());
        let bare = folded.trim_matches(|c: char| !c.is_alphanumeric());
        let has_text = kept.iter().any(|l| !l.trim().is_empty());
        if has_text && VALEDICTIONS.contains(&bare) {
            break;
        }
        if DISCLAIMERS.iter().any(|d| folded.starts_with(d)) {
            break;
        }
        kept.push(line);
    }
    kept.join("\n")
}

/// What kinds of cue the text holds.
#[derive(Debug, Default)]
struct Cues {
    problem: bool,
    confirm: bool,
    tentative: bool,
}

/// What a phrase of the reply says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// "Lo reviso y les cuento": not an answer yet.
    Tentative,
    /// Says the problem goes on; after a negation ("ya no sigue") it says the opposite.
    Persists,
    /// Says it works; after a negation ("no quedó resuelto") it says the opposite.
    Works,
    /// Thanks: no negation turns it round ("no, gracias" is still courteous).
    Thanks,
    /// A symptom ("error", "rechazo"): a complaint unless its clause says it works, or it is
    /// negated ("ya no sale el error", "sin errores").
    Symptom,
    /// A negation, when no longer phrase took the word.
    Negation,
}

/// What each phrase says, in order of precedence: the first phrase that matches at a position
/// takes its words ("no se si" before the negation "no").
const PATTERNS: &[(Kind, &[&str])] = &[
    (
        Kind::Tentative,
        &[
            "no se si",
            "lo reviso",
            "lo revisamos",
            "lo revisare",
            "lo voy a",
            "lo vamos a",
            "voy a probar",
            "vamos a probar",
            "voy a intentar",
            "vamos a intentar",
            "les cuento",
            "le cuento",
            "les aviso",
            "le aviso",
            "revisara",
            "de viaje",
            "al regreso",
        ],
    ),
    (
        Kind::Persists,
        &[
            "no puedo",
            "no pude",
            "no podemos",
            "no pudimos",
            "no me deja",
            "no deja",
            "no llega",
            "no entiendo",
            "no recibe",
            "sin recibir",
            "sin poder",
            "todavia no",
            "aun no",
            "tampoco",
            "sigue*",
            "siguen",
            "seguimos",
            "persist*",
            "continua",
            "continuan",
            "mismo error",
            "mismo rechazo",
            "mismo problema",
            "mismo mensaje",
            "misma falla",
            "misma regla",
            "otra vez",
            "nuevamente",
            "de nuevo",
            "volvio a",
            "vuelve a",
            "volvieron a",
            "otro problema",
            "otro error",
            "otro rechazo",
            "otra pregunta",
            "otra duda",
            "otra consulta",
            "problema nuevo",
            "inconveniente distinto",
            "ahora tengo",
            "ahora sale",
            "ahora me sale",
            "ahora aparece",
        ],
    ),
    (
        Kind::Thanks,
        &[
            "gracias",
            "agradezco",
            "agradecemos",
            "agradecid*",
            "muy amable",
            "dar por cerrado",
            "pueden cerrar",
            "cerrar el caso",
        ],
    ),
    (
        Kind::Works,
        &[
            "confirmo que",
            "confirmamos que",
            "resuelt*",
            "solucionad*",
            "soluciono",
            "resolvio",
            "quedo",
            "quedado",
            "funciono",
            "funciona",
            "funcionando",
            "sirvio",
            "aceptad*",
            "validad*",
            "aprobad*",
            "exitos*",
            "ya pude",
            "ya pudimos",
            "ya se pudo",
            "todo bien",
            "perfecto",
            "excelente",
            "listo",
        ],
    ),
    (
        Kind::Symptom,
        &["error*", "rechaz*", "falla*", "fallo", "problema*", "inconveniente*", "pendiente"],
    ),
    (Kind::Negation, &["no", "sin", "ni", "nunca"]),
];

/// How many words after a negation it still reaches, inside its clause.
const NEGATION_REACH: usize = 5;

/// Words that end a clause besides punctuation: what follows "pero" is said anew.
const CLAUSE_WORDS: [&str; 3] = ["pero", "aunque", "embargo"];

fn cues(text: &str) -> Cues {
    let mut cues = Cues::default();
    if text.contains('?') || text.contains('¿') {
        // A question after a solution needs an answer: the case is someone's work again.
        cues.problem = true;
    }
    for clause in clauses(text) {
        read_clause(&clause, &mut cues);
    }
    cues
}

/// The text in clauses of words: split at punctuation, line ends and "pero".
fn clauses(text: &str) -> Vec<Vec<&str>> {
    let mut all = Vec::new();
    for piece in text.split(['.', ',', ';', ':', '!', '?', '¡', '¿', '\n', '(', ')']) {
        let mut clause = Vec::new();
        for word in piece.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            if CLAUSE_WORDS.contains(&word) {
                all.push(std::mem::take(&mut clause));
            } else {
                clause.push(word);
            }
        }
        all.push(clause);
    }
    all.retain(|c| !c.is_empty());
    all
}

/// One clause's cues. A bare "sí" or "no" answers the question ("¿se resolvió?").
fn read_clause(words: &[&str], cues: &mut Cues) {
    match words {
        ["si"] | ["si", "senor" | "senora"] => cues.confirm = true,
        ["no"] | ["no", "senor" | "senora"] => cues.problem = true,
        _ => {}
    }
    let mut negated_at: Option<usize> = None;
    let mut works_here = false;
    let mut symptoms = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let found = PATTERNS
            .iter()
            .flat_map(|(kind, phrases)| phrases.iter().map(move |p| (*kind, *p)))
            .find_map(|(kind, phrase)| matches_at(words, i, phrase).map(|len| (kind, len)));
        let Some((kind, len)) = found else {
            i += 1;
            continue;
        };
        let negated = negated_at.is_some_and(|at| i - at <= NEGATION_REACH);
        match (kind, negated) {
            (Kind::Negation, _) => negated_at = Some(i),
            (Kind::Tentative, _) => cues.tentative = true,
            (Kind::Thanks, _) => cues.confirm = true,
            (Kind::Persists, false) | (Kind::Works, true) => cues.problem = true,
            (Kind::Persists, true) => cues.confirm = true,
            (Kind::Works, false) => {
                cues.confirm = true;
                works_here = true;
            }
            (Kind::Symptom, true) => cues.confirm = true,
            (Kind::Symptom, false) => symptoms.push(i),
        }
        i += len;
    }
    // "El problema quedó solucionado": the symptom is what was solved.
    if !symptoms.is_empty() && !works_here {
        cues.problem = true;
    }
}

/// How many words `phrase` takes at `at`, if it matches there; a phrase word ending in `*`
/// matches any word it starts ("persist*": "persiste", "persisten").
fn matches_at(words: &[&str], at: usize, phrase: &str) -> Option<usize> {
    let mut len = 0;
    for (i, expected) in phrase.split(' ').enumerate() {
        let word = words.get(at + i)?;
        let ok = match expected.strip_suffix('*') {
            Some(stem) => word.starts_with(stem),
            None => word == &expected,
        };
        if !ok {
            return None;
        }
        len += 1;
    }
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thanks_and_confirmations_confirm() {
        for text in ["Muchas gracias, ya quedó resuelto.", "Gracias por la ayuda", "Sí", "Listo"]
        {
            assert_eq!(read_words(text), Reading::Confirma, "{text}");
        }
    }

    #[test]
    fn negations_turn_the_reading_round() {
        assert_eq!(read_words("No quedó resuelto."), Reading::Persiste);
        assert_eq!(read_words("Gracias pero sigue fallando"), Reading::Persiste);
        assert_eq!(read_words("La solución no me sirvió"), Reading::Persiste);
        assert_eq!(read_words("Ya no sale el error, gracias"), Reading::Confirma);
        assert_eq!(read_words("Se envió sin errores"), Reading::Confirma);
        assert_eq!(read_words("No volvió a salir el rechazo"), Reading::Confirma);
    }

    #[test]
    fn complaints_and_questions_persist() {
        for text in [
            "Sigue saliendo el mismo error",
            "El rechazo persiste",
            "No funciona",
            "¿Y cuándo se verá en el portal?",
            "No.",
            "Ahora tengo otro problema con la nota crédito",
        ] {
            assert_eq!(read_words(text), Reading::Persiste, "{text}");
        }
    }

    #[test]
    fn a_new_rule_or_new_files_persist_whatever_the_words() {
        let thanks = Answer { words: "Gracias", ..Answer::default() };
        assert_eq!(read(&Answer { new_rule: true, ..thanks }), Reading::Persiste);
        assert_eq!(read(&Answer { new_files: true, ..thanks }), Reading::Persiste);
    }

    #[test]
    fn machines_and_tentative_or_empty_answers() {
        let auto = Answer { words: "Gracias", auto_generated: true, ..Answer::default() };
        assert_eq!(read(&auto), Reading::Automatica);
        assert_eq!(read_words("Respuesta automática: fuera de la oficina"), Reading::Automatica);
        assert_eq!(read_words("Gracias, lo reviso y les cuento"), Reading::NoClara);
        assert_eq!(read_words("Buenas tardes"), Reading::NoClara);
        assert_eq!(read_words(""), Reading::NoClara);
    }

    #[test]
    fn a_signatures_disclaimer_and_valediction_are_not_read() {
        let text = "Gracias, ya funcionó.\n\nCordialmente,\nNo responder: sin errores\n\n\
                    AVISO DE CONFIDENCIALIDAD: si lo recibió por error, no está autorizado.";
        assert_eq!(read_words(text), Reading::Confirma);
        assert_eq!(read_words("Cordial saludo,\nGracias, quedó."), Reading::Confirma);
    }
}
