//! Secrets (passwords, OAuth client secrets) read from a file, an environment variable or a
//! systemd credential (`$CREDENTIALS_DIRECTORY/<name>`, see `LoadCredential=`); never from the
//! configuration itself, never printed.
//!
//! [`Secret`] prints as `«secreto»` in `Debug` and `Display`, so a secret that ends up in a log
//! line or an error shows nothing. Errors name where the secret was looked for, never its value.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::config::SecretRef;

/// What `Debug` and `Display` print instead of the value.
const REDACTED: &str = "«secreto»";

/// A secret string. Read it with [`Secret::expose`], only where it goes on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself: for the wire, never for a log line.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A secret that could not be loaded; says where it was looked for and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("no se pudo leer el secreto del archivo {}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("el archivo de secreto {} está vacío", path.display())]
    EmptyFile { path: PathBuf },
    #[error("la variable de entorno {name}, que debe traer el secreto, no está definida")]
    VarUnset { name: String },
    #[error("la variable de entorno {name}, que debe traer el secreto, está vacía")]
    VarEmpty { name: String },
    #[error("la variable de entorno {name}, que debe traer el secreto, no es texto UTF-8")]
    VarNotUnicode { name: String },
    #[error(
        "la credencial {name} necesita $CREDENTIALS_DIRECTORY, que no está definida: \
         arranque mesa-fe desde systemd con LoadCredential={name}:<archivo> o use archivo/variable"
    )]
    NoCredentialsDirectory { name: String },
    #[error(
        "no se pudo leer la credencial {name} ({}): {reason}; revise LoadCredential= en la unidad systemd",
        path.display()
    )]
    Credential { name: String, path: PathBuf, reason: String },
    #[error("la credencial {name} ({}) está vacía", path.display())]
    EmptyCredential { name: String, path: PathBuf },
    #[error("nombre de credencial inválido \"{name}\": debe ser un nombre simple, sin '/'")]
    BadCredentialName { name: String },
    #[error("indique exactamente una fuente del secreto: archivo, variable o credencial")]
    Ambiguous,
}

/// Loads the secret `r` points at. Files and credentials lose one trailing newline (`echo` and
/// editors add one); a value that is empty after that is an error.
pub fn load(r: &SecretRef) -> Result<Secret, SecretError> {
    let credentials_dir = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    load_with(r, credentials_dir.as_deref())
}

/// [`load`] with the credentials directory given (tests cannot set variables: no `unsafe`).
fn load_with(r: &SecretRef, credentials_dir: Option<&Path>) -> Result<Secret, SecretError> {
    match (&r.file, &r.env, &r.credential) {
        (Some(path), None, None) => {
            let value = read_file(path)
                .map_err(|reason| SecretError::File { path: path.clone(), reason })?;
            non_empty(value).ok_or_else(|| SecretError::EmptyFile { path: path.clone() })
        }
        (None, Some(name), None) => from_env(name),
        (None, None, Some(name)) => from_credential(name, credentials_dir),
        _ => Err(SecretError::Ambiguous),
    }
}

fn from_env(name: &str) -> Result<Secret, SecretError> {
    match std::env::var(name) {
        Ok(value) if value.is_empty() => Err(SecretError::VarEmpty { name: name.into() }),
        Ok(value) => Ok(Secret(value)),
        Err(std::env::VarError::NotPresent) => Err(SecretError::VarUnset { name: name.into() }),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(SecretError::VarNotUnicode { name: name.into() })
        }
    }
}

fn from_credential(name: &str, dir: Option<&Path>) -> Result<Secret, SecretError> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(SecretError::BadCredentialName { name: name.into() });
    }
    let Some(dir) = dir else {
        return Err(SecretError::NoCredentialsDirectory { name: name.into() });
    };
    let path = dir.join(name);
    let value = read_file(&path).map_err(|reason| SecretError::Credential {
        name: name.into(),
        path: path.clone(),
        reason,
    })?;
    non_empty(value).ok_or(SecretError::EmptyCredential { name: name.into(), path })
}

/// The file as UTF-8 text, or the reason in Spanish (never its content).
fn read_file(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => "el archivo no existe".to_string(),
        io::ErrorKind::PermissionDenied => {
            "permiso denegado (¿el usuario del servicio puede leerlo?)".to_string()
        }
        io::ErrorKind::IsADirectory => "es un directorio, no un archivo".to_string(),
        _ => format!("error de E/S ({e})"),
    })?;
    String::from_utf8(bytes).map_err(|_| "el contenido no es texto UTF-8".to_string())
}

/// Drops one trailing `\n` (or `\r\n`); `None` when nothing is left.
fn non_empty(mut value: String) -> Option<Secret> {
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    (!value.is_empty()).then_some(Secret(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_ref(path: &Path) -> SecretRef {
        SecretRef { file: Some(path.to_path_buf()), ..SecretRef::default() }
    }

    #[test]
    fn secret_never_prints_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "«secreto»");
        assert_eq!(format!("{s:?}"), "«secreto»");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(«secreto»)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn file_loses_exactly_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        for (content, expected) in [
            ("clave\n", "clave"),
            ("clave\r\n", "clave"),
            ("clave", "clave"),
            ("clave\n\n", "clave\n"),
            (" con espacios \n", " con espacios "),
        ] {
            let path = dir.path().join("s");
            std::fs::write(&path, content).unwrap();
            assert_eq!(load(&file_ref(&path)).unwrap().expose(), expected, "{content:?}");
        }
    }

    #[test]
    fn missing_and_empty_files_are_named_not_shown() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-existe");
        let err = load(&file_ref(&missing)).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, SecretError::File { .. }));
        assert!(text.contains("no-existe") && text.contains("no existe"), "{text}");

        let empty = dir.path().join("vacio");
        std::fs::write(&empty, "\n").unwrap();
        let err = load(&file_ref(&empty)).unwrap_err();
        assert!(matches!(err, SecretError::EmptyFile { .. }), "{err}");
        assert!(err.to_string().contains("vacío"));

        let err = load(&file_ref(dir.path())).unwrap_err();
        assert!(matches!(err, SecretError::File { .. }), "{err}");
    }

    #[test]
    fn non_utf8_file_is_refused_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin");
        std::fs::write(&path, [0xff, 0xfe, b'x']).unwrap();
        let text = load(&file_ref(&path)).unwrap_err().to_string();
        assert!(text.contains("UTF-8"), "{text}");
    }

    #[test]
    fn environment_variable() {
        // set_var is unsafe in edition 2024 and the crate forbids unsafe: PATH is always set.
        let r = SecretRef { env: Some("PATH".into()), ..SecretRef::default() };
        let path = std::env::var("PATH").unwrap();
        assert_eq!(load(&r).unwrap().expose(), path);

        let name = "MESA_FE_PRUEBA_SECRETO_QUE_NO_EXISTE_7f3a";
        let r = SecretRef { env: Some(name.into()), ..SecretRef::default() };
        let err = load(&r).unwrap_err();
        assert!(matches!(err, SecretError::VarUnset { .. }));
        assert!(err.to_string().contains(name));
    }

    #[test]
    fn systemd_credential() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("imap-clave"), "s3creto\n").unwrap();
        let r = SecretRef { credential: Some("imap-clave".into()), ..SecretRef::default() };
        assert_eq!(load_with(&r, Some(dir.path())).unwrap().expose(), "s3creto");

        let err = load_with(&r, None).unwrap_err();
        assert!(matches!(err, SecretError::NoCredentialsDirectory { .. }));
        assert!(err.to_string().contains("LoadCredential=imap-clave"), "{err}");

        let other = SecretRef { credential: Some("otra".into()), ..SecretRef::default() };
        let err = load_with(&other, Some(dir.path())).unwrap_err();
        assert!(matches!(err, SecretError::Credential { .. }), "{err}");
        assert!(err.to_string().contains("otra"));

        std::fs::write(dir.path().join("vacia"), "").unwrap();
        let empty = SecretRef { credential: Some("vacia".into()), ..SecretRef::default() };
        assert!(matches!(
            load_with(&empty, Some(dir.path())),
            Err(SecretError::EmptyCredential { .. })
        ));

        let escape = SecretRef { credential: Some("../etc/shadow".into()), ..SecretRef::default() };
        assert!(matches!(
            load_with(&escape, Some(dir.path())),
            Err(SecretError::BadCredentialName { .. })
        ));
    }

    #[test]
    fn exactly_one_source() {
        assert!(matches!(load(&SecretRef::default()), Err(SecretError::Ambiguous)));
        let both =
            SecretRef { file: Some("/x".into()), env: Some("PATH".into()), credential: None };
        assert!(matches!(load(&both), Err(SecretError::Ambiguous)));
    }
}
