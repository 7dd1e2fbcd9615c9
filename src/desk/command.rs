//! What an agent's e-mail asks for: a command on its first line (`#solucion`, `#escalar`…) and
//! free text below. Pure: the text given is already without quoted history and signature.

use serde::Serialize;

/// One of the commands agents write on the first line of a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Command {
    /// Internal note; at N2 it is the diagnosis.
    Nota,
    /// The solution, sent to the requester. `first_contact`: it goes into the CT-CAC-0127 guide.
    Solucion {
        first_contact: bool,
    },
    /// To the next level, with the reason.
    Escalar,
    /// A question for the requester.
    Info,
    /// To another agent (an address).
    Asignar(String),
    /// Child of a parent case (a case number).
    Padre(String),
    Cerrar,
    Reabrir,
    /// The case's type (incidente, requerimiento, cambio, problema).
    Tipo(crate::desk::CaseType),
    /// The root cause of a problema.
    Causa,
    /// A coordinator approves the known-error entry proposed by a solved problema.
    AprobarErrorConocido,
    // Issue 14, points 10–12: security marking and the explicit escalation targets.
    /// From the N3 functional filter to the N3 technical group (`#escalar n3-tecnico`).
    EscalarN3Tecnico,
    /// To Administración Técnica (`#escalar csat`); `without_xml`: why the requester's XML does
    /// not apply (`#escalar csat sin-xml: motivo`), else the XML is required.
    EscalarCsat {
        without_xml: Option<String>,
    },
    /// Marks the case as a security event of this category (a–h); the text is the reason.
    Seguridad(char),

    // Related cases and duplicates (issue 14, point 5).
    /// "Crear Relacionado a": a new case, child of this one, for the same requester; the text
    /// below the command is its description. The tema stays unless one is named.
    Relacionado {
        tema: Option<crate::desk::Tema>,
    },
    /// This case is a duplicate: its messages, documents and history move to the case named.
    Fusionar(String),
}

/// The commands and what they do, for the help an agent gets back (Spanish).
pub const HELP: &[(&str, &str)] = &[
    ("#nota", "nota interna (en nivel 2 es el diagnóstico)"),
    ("#solucion", "la solución: el texto le llega al solicitante y el caso queda solucionado"),
    ("#solucion primer-contacto", "igual, y la solución entra a la guía de errores conocidos"),
    ("#escalar", "pasa el caso al siguiente nivel; escriba el motivo"),
    ("#info", "pregunta que le llega al solicitante; el caso queda pendiente de información"),
    ("#asignar correo@dominio", "asigna el caso a otro agente"),
    ("#padre FE-AAAA-NNNNNN", "vincula este caso como hijo de un caso padre (afectación masiva)"),
    ("#cerrar", "cierra el caso"),
    ("#reabrir", "reabre el caso"),
    ("#tipo incidente|requerimiento|cambio|problema", "cambia el tipo del caso"),
    ("#causa", "causa raíz de un problema (antes de su #solucion)"),
    ("#aprobar-error-conocido", "aprueba el error conocido que propuso un problema solucionado"),
    ("#escalar n3-tecnico", "del filtro funcional de nivel 3 al grupo técnico de nivel 3"),
    (
        "#escalar csat sin-xml: motivo",
        "a Administración Técnica sin el XML del solicitante, con el motivo por el que no aplica",
    ),
    (
        "#seguridad a|b|c|d|e|f|g|h",
        "marca el caso como evento de seguridad de esa categoría y lo pasa al grupo de seguridad; \
         escriba el motivo",
    ),
    (
        "#relacionado [tema]",
        "crea un caso nuevo del mismo solicitante, hijo de este; el texto de debajo es su descripción",
    ),
    (
        "#fusionar FE-AAAA-NNNNNN",
        "este caso es un duplicado: sus mensajes, documentos e historial pasan al caso indicado",
    ),
];

impl Command {
    /// Its name as stored and shown (`solucion`, `escalar`…).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Nota => "nota",
            Command::Solucion { .. } => "solucion",
            Command::Escalar => "escalar",
            Command::Info => "info",
            Command::Asignar(_) => "asignar",
            Command::Padre(_) => "padre",
            Command::Cerrar => "cerrar",
            Command::Reabrir => "reabrir",
            Command::Tipo(_) => "tipo",
            Command::Causa => "causa",
            Command::AprobarErrorConocido => "aprobar-error-conocido",
            Command::EscalarN3Tecnico | Command::EscalarCsat { .. } => "escalar",
            Command::Seguridad(_) => "seguridad",
            Command::Relacionado { .. } => "relacionado",
            Command::Fusionar(_) => "fusionar",
        }
    }

    /// The argument written after the command, if it takes one.
    pub fn argument(&self) -> Option<&str> {
        match self {
            Command::Asignar(a) | Command::Padre(a) | Command::Fusionar(a) => Some(a),
            Command::Tipo(t) => Some(t.as_str()),
            Command::Relacionado { tema: Some(tema) } => Some(tema.as_str()),
            Command::Solucion { first_contact: true } => Some("primer-contacto"),
            Command::EscalarN3Tecnico => Some("n3-tecnico"),
            Command::EscalarCsat { without_xml: None } => Some("csat"),
            Command::EscalarCsat { without_xml: Some(_) } => Some("csat sin-xml"),
            Command::Seguridad(category) => Some(SECURITY_CATEGORIES[category_index(*category)]),
            _ => None,
        }
    }
}

/// A command and the text that goes with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub command: Command,
    pub text: String,
}

/// How an agent's message reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Action(Action),
    /// The first line starts with `#` but is not a command this desk knows (or lacks its argument).
    Unknown {
        first_line: String,
        problem: String,
    },
}

/// Reads an agent's own words. Without a command on the first line, the whole text is a note.
pub fn parse(own_words: &str) -> Parsed {
    let trimmed = own_words.trim_start();
    let (first_line, rest) = trimmed.split_once('\n').unwrap_or((trimmed, ""));
    let first_line = first_line.trim();
    let Some(written) = first_line.strip_prefix('#') else {
        return Parsed::Action(Action { command: Command::Nota, text: own_words.trim().into() });
    };
    let mut words = written.split_whitespace();
    let name = crate::text::fold(words.next().unwrap_or_default());
    let argument = words.next();
    // Text may follow the command on its own line ("#nota el XML llegó mal firmado").
    let inline: String = words.collect::<Vec<_>>().join(" ");
    let unknown = |problem: &str| Parsed::Unknown {
        first_line: first_line.to_string(),
        problem: problem.to_string(),
    };
    let command = match name.as_str() {
        "nota" => Command::Nota,
        "solucion" => match argument.map(crate::text::fold).as_deref() {
            Some("primer-contacto" | "primer_contacto" | "primercontacto") => {
                Command::Solucion { first_contact: true }
            }
            _ => Command::Solucion { first_contact: false },
        },
        "escalar" => match escalation(argument, &inline) {
            Ok(Some(command)) => {
                // The words after `n3-tecnico` start the reason; after `csat` they were its motivo.
                let head = if command == Command::EscalarN3Tecnico { inline.as_str() } else { "" };
                let text = [head, rest.trim()]
                    .into_iter()
                    .filter(|part| !part.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n");
                return Parsed::Action(Action { command, text });
            }
            Ok(None) => Command::Escalar,
            Err(problem) => return unknown(&problem),
        },
        "seguridad" => match argument.and_then(security_category_letter) {
            Some(category) => Command::Seguridad(category),
            None => {
                return unknown(
                    "#seguridad necesita la categoría del evento, una letra de la a a la h \
                     (a control ineficaz, b integridad/confidencialidad/disponibilidad, c error \
                     humano, d políticas, e seguridad física, f cambio no controlado, g mal \
                     funcionamiento, h violación de acceso): #seguridad h, y el motivo debajo",
                );
            }
        },
        "info" => Command::Info,
        "asignar" => match argument.filter(|a| a.contains('@')) {
            Some(address) => Command::Asignar(address.trim_matches(['<', '>']).to_lowercase()),
            None => {
                return unknown("#asignar necesita el correo del agente: #asignar correo@dominio");
            }
        },
        "padre" => match argument {
            Some(number) => Command::Padre(number.trim_matches(['[', ']']).to_uppercase()),
            None => {
                return unknown("#padre necesita el número del caso padre: #padre FE-AAAA-NNNNNN");
            }
        },
        "cerrar" => Command::Cerrar,
        "reabrir" => Command::Reabrir,
        "tipo" => match argument.and_then(crate::desk::CaseType::read) {
            Some(case_type) => Command::Tipo(case_type),
            None => {
                return unknown(
                    "#tipo necesita incidente, requerimiento, cambio o problema: #tipo problema",
                );
            }
        },
        "causa" => Command::Causa,
        "aprobar-error-conocido" | "aprobar_error_conocido" => Command::AprobarErrorConocido,
        "relacionado" | "relacionar" => {
            Command::Relacionado { tema: argument.and_then(named_tema) }
        }
        "fusionar" => match argument {
            Some(number) => Command::Fusionar(number.trim_matches(['[', ']']).to_uppercase()),
            None => {
                return unknown(
                    "#fusionar necesita el número del caso que se queda: #fusionar FE-AAAA-NNNNNN",
                );
            }
        },
        _ => return unknown(&format!("el comando «#{name}» no existe")),
    };
    let takes_argument = matches!(
        command,
        Command::Asignar(_)
            | Command::Padre(_)
            | Command::Tipo(_)
            | Command::Solucion { first_contact: true }
            | Command::Seguridad(_)
            | Command::Fusionar(_)
            | Command::Relacionado { tema: Some(_) }
    );
    let mut head: Vec<&str> = Vec::new();
    if !takes_argument && let Some(argument) = argument {
        head.push(argument);
    }
    if !inline.is_empty() {
        head.push(&inline);
    }
    let text = [head.join(" "), rest.trim().to_string()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    Parsed::Action(Action { command, text })
}

/// The security categories as written after `#seguridad`, a–h.
const SECURITY_CATEGORIES: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];

fn category_index(category: char) -> usize {
    (category as usize).saturating_sub('a' as usize).min(7)
}

/// `a`…`h` (any case, with or without a closing parenthesis: "h)").
fn security_category_letter(written: &str) -> Option<char> {
    let folded = crate::text::fold(written.trim_end_matches([')', '.', ':']));
    let mut chars = folded.chars();
    match (chars.next(), chars.next()) {
        (Some(c @ 'a'..='h'), None) => Some(c),
        _ => None,
    }
}

/// The explicit targets of `#escalar`: `n3-tecnico`, `csat`, `csat sin-xml: motivo`. `None` for
/// a plain `#escalar` (its first word, if any, is the start of the reason).
fn escalation(argument: Option<&str>, inline: &str) -> Result<Option<Command>, String> {
    let target = argument.map(|a| crate::text::fold(a).replace('_', "-"));
    match target.as_deref() {
        Some("n3-tecnico" | "n3tecnico" | "tecnico") => Ok(Some(Command::EscalarN3Tecnico)),
        Some("csat" | "administracion-tecnica") => {
            let inline = inline.trim();
            let marker = ["sin-xml", "sin xml", "sin_xml"].iter().find(|marker| {
                inline.get(..marker.len()).is_some_and(|head| head.eq_ignore_ascii_case(marker))
            });
            let Some(marker) = marker else {
                return match inline {
                    "" => Ok(Some(Command::EscalarCsat { without_xml: None })),
                    _ => Err("después de #escalar csat solo cabe «sin-xml: motivo»; escriba el \
                         motivo del escalamiento en las líneas de abajo"
                        .into()),
                };
            };
            let reason = inline[marker.len()..].trim_start_matches([':', ' ']).trim();
            if reason.is_empty() {
                return Err(
                    "#escalar csat sin-xml necesita el motivo por el que el XML no aplica: \
                     #escalar csat sin-xml: el caso es de habilitación y no hay factura"
                        .into(),
                );
            }
            Ok(Some(Command::EscalarCsat { without_xml: Some(reason.to_string()) }))
        }
        _ => Ok(None),
    }
}

/// A tema written after `#relacionado` (`nomina_electronica`, `tema=otro`). A bare "otro" is
/// the first word of a description ("Otro rechazo…"), not a tema.
fn named_tema(word: &str) -> Option<crate::desk::Tema> {
    let folded = crate::text::fold(word);
    match folded.strip_prefix("tema=") {
        Some(name) => crate::desk::Tema::parse(name),
        None if folded == "otro" => None,
        None => crate::desk::Tema::parse(&folded),
    }
}

/// Header fields a receiving MTA or the delivery agent prepends: trace fields (RFC 5321 §4.4),
/// results (RFC 8601, RFC 7208 Received-SPF), ARC sets (RFC 8617), Postfix's X-Original-To and
/// the LDA's Delivered-To. Everything below the first other field is the sender's own writing.
const TRACE_FIELDS: [&str; 9] = [
    "return-path",
    "received",
    "delivered-to",
    "x-original-to",
    "authentication-results",
    "received-spf",
    "arc-seal",
    "arc-message-signature",
    "arc-authentication-results",
];

/// The `Authentication-Results` added by the configured authentication servers (`servers`,
/// authserv-ids), from `headers` (the message's header fields in order: name, raw value).
///
/// RFC 8601 §5: the buzón's MTA removes results that claim its authserv-id and came from outside,
/// and adds its own at the top. So only the top counts: reading down through trace fields only,
/// the first result with a configured authserv-id starts the trusted run, which ends at the first
/// field that is not a result (the Received of an earlier hop, the sender's own From…). Results
/// of other servers are ignored wherever they are; so is a configured one written lower down,
/// where the sender could have put it.
pub fn trusted_results(headers: &[(String, String)], servers: &[String]) -> Vec<String> {
    let mut trusted = Vec::new();
    for (name, value) in headers {
        let name = name.trim().to_ascii_lowercase();
        if name == "authentication-results" {
            if authserv_id(value)
                .is_some_and(|id| servers.iter().any(|s| s.eq_ignore_ascii_case(id)))
            {
                trusted.push(value.clone());
            }
            continue;
        }
        if !trusted.is_empty() || !TRACE_FIELDS.contains(&name.as_str()) {
            break;
        }
    }
    trusted
}

/// `authserv-id [version]; results…`: the server that wrote the result.
fn authserv_id(value: &str) -> Option<&str> {
    let (head, _) = value.split_once(';')?;
    head.split_whitespace().next()
}

/// Whether the trusted results (see [`trusted_results`]) vouch for the From address: at least
/// one, no failure, and a pass about the From domain.
pub fn sender_verified(trusted: &[String], from: &str) -> bool {
    !trusted.is_empty() && authentication_trusted(trusted, from)
}

/// `Authentication-Results` says SPF or DKIM failed (`spf=fail`, `dkim=fail`, `spf=softfail`
/// counts as a failure too): the sender address cannot be trusted to command a case.
pub fn authentication_failed(results: &[String]) -> bool {
    results.iter().any(|header| {
        let lower = header.to_ascii_lowercase();
        lower.split(|c: char| c == ';' || c.is_whitespace()).any(|token| {
            matches!(
                token,
                "spf=fail" | "spf=softfail" | "dkim=fail" | "dmarc=fail" | "spf=permerror"
            )
        })
    })
}

/// Whether `Authentication-Results` vouches for the From domain: no header at all (nothing to
/// go on: the thread must vouch), or no failure and a pass that is about that domain (DMARC, or
/// DKIM `header.d` / SPF `smtp.mailfrom` equal to it or a parent of it). A pass for the sender's
/// own domain while writing as someone else's does not count.
pub fn authentication_trusted(results: &[String], from: &str) -> bool {
    if results.is_empty() {
        return true;
    }
    if authentication_failed(results) {
        return false;
    }
    let Some((_, domain)) = from.rsplit_once('@') else { return false };
    let domain = domain.to_ascii_lowercase();
    let about_domain = |value: &str| {
        let value = value.rsplit('@').next().unwrap_or(value).trim_matches(['<', '>', '"']);
        value == domain || domain.ends_with(&format!(".{value}"))
    };
    results.iter().any(|header| {
        let lower = header.to_ascii_lowercase();
        lower.split(';').any(|clause| {
            let words: Vec<&str> = clause.split_whitespace().collect();
            let property = |name: &str| {
                words.iter().find_map(|w| w.strip_prefix(name)).is_some_and(about_domain)
            };
            (words.contains(&"dmarc=pass")
                && (property("header.from=") || !clause.contains("header.from=")))
                || (words.contains(&"dkim=pass") && property("header.d="))
                || (words.contains(&"spf=pass") && property("smtp.mailfrom="))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(text: &str) -> Action {
        match parse(text) {
            Parsed::Action(action) => action,
            other => panic!("not an action: {other:?}"),
        }
    }

    #[test]
    fn text_without_a_command_is_a_note() {
        let a = action("Revisé el XML: falta la firma.\nSigo revisando.");
        assert_eq!(a.command, Command::Nota);
        assert_eq!(a.text, "Revisé el XML: falta la firma.\nSigo revisando.");
    }

    #[test]
    fn command_on_the_first_line_and_text_below() {
        let a = action("#escalar\nEl servicio de validación devuelve 500 con este XML.");
        assert_eq!(a.command, Command::Escalar);
        assert_eq!(a.text, "El servicio de validación devuelve 500 con este XML.");
        let inline = action("#Solución  Reenvíe la factura con la fecha corregida.");
        assert_eq!(inline.command, Command::Solucion { first_contact: false });
        assert_eq!(inline.text, "Reenvíe la factura con la fecha corregida.");
    }

    #[test]
    fn first_contact_solutions_and_arguments() {
        let a = action("#solucion primer-contacto\nCorrija el campo.");
        assert_eq!(a.command, Command::Solucion { first_contact: true });
        assert_eq!(a.text, "Corrija el campo.");
        assert_eq!(
            action("#asignar <Luis.Mejia@dian.gov.co>").command,
            Command::Asignar("luis.mejia@dian.gov.co".into())
        );
        assert_eq!(
            action("#padre [fe-2026-000007]").command,
            Command::Padre("FE-2026-000007".into())
        );
    }

    #[test]
    fn unknown_or_incomplete_commands_are_reported() {
        assert!(matches!(parse("#resolver ya quedó"), Parsed::Unknown { .. }));
        let Parsed::Unknown { problem, .. } = parse("#asignar a Luis") else {
            panic!("#asignar without an address must be refused")
        };
        assert!(problem.contains("correo"), "{problem}");
        assert!(matches!(parse("#padre"), Parsed::Unknown { .. }));
        assert!(matches!(parse("#tipo urgente"), Parsed::Unknown { .. }));
        assert_eq!(
            action("#tipo Problema").command,
            Command::Tipo(crate::desk::CaseType::Problema)
        );
        let cause = action("#causa El certificado del servicio venció.");
        assert_eq!(
            (cause.command, cause.text.as_str()),
            (Command::Causa, "El certificado del servicio venció.")
        );
    }

    #[test]
    fn escalation_targets_and_the_reason_without_xml() {
        let plain = action("#escalar El servicio devuelve 500");
        assert_eq!(
            (plain.command, plain.text.as_str()),
            (Command::Escalar, "El servicio devuelve 500")
        );
        let technical = action("#escalar N3-Técnico revisar el firmado\nAdjunto trazas.");
        assert_eq!(technical.command, Command::EscalarN3Tecnico);
        assert_eq!(technical.text, "revisar el firmado\nAdjunto trazas.");
        assert_eq!(action("#escalar csat").command, Command::EscalarCsat { without_xml: None });
        let without = action(
            "#escalar csat sin-xml: el caso es de habilitación, no hay factura\nFalla del servicio.",
        );
        assert_eq!(
            without.command,
            Command::EscalarCsat {
                without_xml: Some("el caso es de habilitación, no hay factura".into())
            }
        );
        assert_eq!(without.text, "Falla del servicio.");
        assert_eq!(
            action("#Escalar CSAT Sin-XML:no aplica").command,
            Command::EscalarCsat { without_xml: Some("no aplica".into()) }
        );
        let Parsed::Unknown { problem, .. } = parse("#escalar csat sin-xml:") else {
            panic!("a missing reason must be refused")
        };
        assert!(problem.contains("motivo"), "{problem}");
        assert!(matches!(parse("#escalar csat urgente"), Parsed::Unknown { .. }));
    }

    #[test]
    fn security_marking_needs_a_category_a_to_h() {
        let marked = action("#seguridad H\nEl solicitante dice que alguien entró con su usuario.");
        assert_eq!(marked.command, Command::Seguridad('h'));
        assert_eq!(marked.text, "El solicitante dice que alguien entró con su usuario.");
        assert_eq!(marked.command.argument(), Some("h"));
        assert_eq!(action("#seguridad b) fuga de datos").text, "fuga de datos");
        for bad in ["#seguridad", "#seguridad z", "#seguridad hh", "#seguridad 1"] {
            let Parsed::Unknown { problem, .. } = parse(bad) else {
                panic!("{bad} must be refused")
            };
            assert!(problem.contains("categoría"), "{problem}");
        }
    }

    #[test]
    fn related_cases_and_merges() {
        let related = action("#relacionado\nAhora la nómina de marzo no transmite.");
        assert_eq!(related.command, Command::Relacionado { tema: None });
        assert_eq!(related.text, "Ahora la nómina de marzo no transmite.");
        let with_tema = action("#Relacionado nomina_electronica La nómina de marzo.");
        assert_eq!(
            with_tema.command,
            Command::Relacionado { tema: Some(crate::desk::Tema::NominaElectronica) }
        );
        assert_eq!(with_tema.text, "La nómina de marzo.");
        assert_eq!(with_tema.command.argument(), Some("nomina_electronica"));
        // A first word that is not a tema is part of the description.
        let plain = action("#relacionado Otro rechazo\ncon la nota crédito");
        assert_eq!(plain.command, Command::Relacionado { tema: None });
        assert_eq!(plain.text, "Otro rechazo\ncon la nota crédito");
        let merge = action("#fusionar [fe-2026-000031]\nEs el mismo CUFE.");
        assert_eq!(merge.command, Command::Fusionar("FE-2026-000031".into()));
        assert_eq!(merge.text, "Es el mismo CUFE.");
        let Parsed::Unknown { problem, .. } = parse("#fusionar") else {
            panic!("#fusionar without a number must be refused")
        };
        assert!(problem.contains("FE-AAAA-NNNNNN"), "{problem}");
        assert!(HELP.iter().any(|(c, _)| c.starts_with("#relacionado")));
        assert!(HELP.iter().any(|(c, _)| c.starts_with("#fusionar")));
    }

    #[test]
    fn only_a_pass_for_the_from_domain_vouches_for_the_sender() {
        let own = vec!["mx.dian.gov.co; spf=pass smtp.mailfrom=attacker.example; dkim=pass header.d=attacker.example".to_string()];
        assert!(!authentication_trusted(&own, "ana.rojas@dian.gov.co"));
        let aligned = vec!["mx.dian.gov.co; dkim=pass header.d=dian.gov.co; spf=none".to_string()];
        assert!(authentication_trusted(&aligned, "ana.rojas@dian.gov.co"));
        let parent = vec!["mx; spf=pass smtp.mailfrom=bounces@dian.gov.co".to_string()];
        assert!(authentication_trusted(&parent, "ana@correo.dian.gov.co"));
        let dmarc = vec!["mx; dmarc=pass header.from=dian.gov.co".to_string()];
        assert!(authentication_trusted(&dmarc, "ana.rojas@dian.gov.co"));
        assert!(
            authentication_trusted(&[], "ana.rojas@dian.gov.co"),
            "no header: the thread decides"
        );
    }

    const MTA: &str = "mx.dian.gov.co";

    fn fields(lines: &[(&str, &str)]) -> Vec<(String, String)> {
        lines.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    fn verified(lines: &[(&str, &str)]) -> bool {
        let trusted = trusted_results(&fields(lines), &[MTA.to_string()]);
        sender_verified(&trusted, "ana.rojas@dian.gov.co")
    }

    #[test]
    fn the_buzons_mta_result_at_the_top_vouches_for_the_sender() {
        assert!(verified(&[
            ("Return-Path", "<ana.rojas@dian.gov.co>"),
            ("Delivered-To", "buzon@dian.gov.co"),
            ("Authentication-Results", "MX.dian.gov.co; dkim=pass header.d=dian.gov.co"),
            ("Authentication-Results", "mx.dian.gov.co; dmarc=pass header.from=dian.gov.co"),
            ("Received", "from mail.dian.gov.co by mx.dian.gov.co"),
            ("From", "Ana <ana.rojas@dian.gov.co>"),
        ]));
        // An internal relay's Received above the MTA's result does not hide it.
        assert!(verified(&[
            ("Received", "from mx.dian.gov.co by buzones.dian.gov.co"),
            ("Authentication-Results", "mx.dian.gov.co 1; spf=pass smtp.mailfrom=dian.gov.co"),
            ("From", "ana.rojas@dian.gov.co"),
        ]));
    }

    #[test]
    fn no_result_or_another_servers_result_vouches_for_nobody() {
        assert!(!verified(&[("Received", "from x by mx"), ("From", "ana.rojas@dian.gov.co")]));
        assert!(!verified(&[
            ("Received", "from x by mx.dian.gov.co"),
            ("Authentication-Results", "x; dmarc=pass header.from=dian.gov.co"),
            ("From", "ana.rojas@dian.gov.co"),
        ]));
    }

    #[test]
    fn a_result_with_the_trusted_id_written_by_the_sender_does_not_count() {
        // Below the sender's own fields.
        assert!(!verified(&[
            ("Received", "from x by mx.dian.gov.co"),
            ("From", "ana.rojas@dian.gov.co"),
            ("Authentication-Results", "mx.dian.gov.co; dmarc=pass header.from=dian.gov.co"),
        ]));
        // Below the MTA's own result and the Received of the hop it came from.
        assert!(!verified(&[
            ("Authentication-Results", "mx.dian.gov.co; dmarc=none; spf=none"),
            ("Received", "from atacante.example by mx.dian.gov.co"),
            ("Authentication-Results", "mx.dian.gov.co; dmarc=pass header.from=dian.gov.co"),
            ("From", "ana.rojas@dian.gov.co"),
        ]));
        // Next to a failure the MTA reported.
        assert!(!verified(&[
            ("Authentication-Results", "mx.dian.gov.co; dmarc=fail header.from=dian.gov.co"),
            ("Authentication-Results", "mx.dian.gov.co; dkim=pass header.d=dian.gov.co"),
            ("From", "ana.rojas@dian.gov.co"),
        ]));
        // A pass for the sender's own domain, not the From's.
        assert!(!verified(&[
            ("Authentication-Results", "mx.dian.gov.co; dkim=pass header.d=atacante.example"),
            ("From", "ana.rojas@dian.gov.co"),
        ]));
    }

    #[test]
    fn failed_spf_or_dkim_is_recognised() {
        let pass = vec!["mx.dian.gov.co; dkim=pass header.d=dian.gov.co; spf=pass".to_string()];
        assert!(!authentication_failed(&pass));
        let fail =
            vec!["mx.dian.gov.co;\r\n dkim=fail (bad signature); spf=fail smtp.mailfrom=x".into()];
        assert!(authentication_failed(&fail));
        assert!(!authentication_failed(&[]));
    }
}
