//! What `run` checks before it touches a server or the database, shared with `check-config`
//! so that a configuration `check-config` passes is one `run` starts with. Nothing here
//! connects, binds or writes: secrets and CA files are read, templates and the knowledge base
//! loaded, connections only prepared.

use std::path::Path;

use mesa_fe::config::{AuthMethod, Buzon, Config, OAuth2Settings, SecretRef};
use mesa_fe::desk::knowledge::KnowledgeBase;
use mesa_fe::mail::imap::Connector;
use mesa_fe::mail::smtp::Sender;

use super::{EX_CONFIG, Failure, load_config, load_knowledge};

/// Who asks: `run` refuses what `check-config` can only warn about from a shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Run,
    Check,
}

/// A configuration that passed the start-up checks, with what they loaded.
pub struct Checked {
    pub config: Config,
    pub knowledge: KnowledgeBase,
    /// Things `check-config` could not verify from here, for the operator.
    pub notices: Vec<String>,
}

pub fn preflight(path: Option<&Path>, mode: Mode) -> Result<Checked, Failure> {
    let config = load_config(path)?;
    let knowledge = load_knowledge(&config)?;
    mesa_fe::live::load_templates(&config).map_err(|e| Failure::new(EX_CONFIG, e.to_string()))?;
    let mut notices = Vec::new();
    let mut secrets = Vec::new();
    if let Some(source) = &config.general.message_key {
        secrets.push(("general.firma_mensajes".to_string(), source));
    }
    if let Some(source) = &config.general.database_password {
        secrets.push(("general.base_datos_clave".to_string(), source));
    }
    // The token is read only when the HTTP server is on.
    if !config.http.address.is_empty()
        && let Some(source) = &config.http.api_token
    {
        secrets.push(("http.token_api".to_string(), source));
    }
    if !check_secrets(mode, &secrets)? {
        let keys: Vec<&str> = secrets.iter().map(|(key, _)| key.as_str()).collect();
        notices.push(credential_notice(&keys.join(", ")));
    }
    for (index, buzon) in config.buzones.iter().enumerate() {
        check_connections(index, buzon, mode, &mut notices)?;
    }
    if !config.buzones.iter().any(|b| b.imap.is_some()) {
        let problem = "ningún buzón tiene configurada la conexión IMAP ([buzones.imap]): \
                       `mesa-fe run` no arranca sin un buzón que vigilar";
        match mode {
            Mode::Run => return Err(Failure::new(EX_CONFIG, problem)),
            Mode::Check => notices.push(format!("{problem} (los comandos locales sí funcionan)")),
        }
    }
    Ok(Checked { config, knowledge, notices })
}

fn load_secret(key: &str, source: &SecretRef) -> Result<(), Failure> {
    mesa_fe::secrets::load(source).map(drop).map_err(|e| {
        Failure::new(EX_CONFIG, format!("configuración inválida en la clave `{key}`: {e}"))
    })
}

/// Prepares the buzón's IMAP and SMTP connections as `run` does (CA file, secrets, OAuth2
/// client), without connecting. Secrets are read first, one by one, so a missing one is named
/// by its key.
fn check_connections(
    index: usize,
    buzon: &Buzon,
    mode: Mode,
    notices: &mut Vec<String>,
) -> Result<(), Failure> {
    let name = &buzon.name;
    if let Some(imap) = &buzon.imap {
        let key = format!("buzones[{index}].imap");
        let secrets = login_secrets(&key, imap.auth, imap.password.as_ref(), imap.oauth2.as_ref());
        if check_secrets(mode, &secrets)? {
            Connector::new(imap)
                .map_err(|e| Failure::new(EX_CONFIG, format!("el buzón {name} ({key}): {e}")))?;
        } else {
            notices.push(credential_notice(&format!("el buzón {name} ({key})")));
        }
    }
    if let Some(smtp) = &buzon.smtp {
        let key = format!("buzones[{index}].smtp");
        // Without a user the relay trusts the connection: no secret is read.
        let secrets = match smtp.user {
            Some(_) => login_secrets(&key, smtp.auth, smtp.password.as_ref(), smtp.oauth2.as_ref()),
            None => Vec::new(),
        };
        if check_secrets(mode, &secrets)? {
            Sender::new(smtp)
                .map_err(|e| Failure::new(EX_CONFIG, format!("el buzón {name} ({key}): {e}")))?;
        } else {
            notices.push(credential_notice(&format!("el buzón {name} ({key})")));
        }
    }
    Ok(())
}

/// The secrets the login method reads, with their keys.
fn login_secrets<'a>(
    key: &str,
    auth: AuthMethod,
    password: Option<&'a SecretRef>,
    oauth2: Option<&'a OAuth2Settings>,
) -> Vec<(String, &'a SecretRef)> {
    match auth {
        AuthMethod::Contrasena => {
            password.map(|p| (format!("{key}.contrasena"), p)).into_iter().collect()
        }
        AuthMethod::Xoauth2 => oauth2
            .map(|o| (format!("{key}.oauth2.secreto"), &o.client_secret))
            .into_iter()
            .collect(),
    }
}

/// Reads each secret; `false` when one is a systemd credential that only exists inside the
/// unit (`$CREDENTIALS_DIRECTORY`): from a shell `check-config` cannot read it, and calling it
/// missing would be wrong.
fn check_secrets(mode: Mode, secrets: &[(String, &SecretRef)]) -> Result<bool, Failure> {
    let outside_unit = std::env::var_os("CREDENTIALS_DIRECTORY").is_none();
    if mode == Mode::Check && outside_unit && secrets.iter().any(|(_, s)| s.credential.is_some()) {
        return Ok(false);
    }
    for (key, source) in secrets {
        load_secret(key, source)?;
    }
    Ok(true)
}

fn credential_notice(what: &str) -> String {
    format!(
        "{what} usa una credencial de systemd, que solo se puede leer dentro del servicio: no se \
         verificó (revise LoadCredential= en la unidad)"
    )
}
