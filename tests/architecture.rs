//! "Dependencies point one way" (DESIGN.md): `desk` and `dian` are the pure middle, so their
//! source names no `store`, `mail`, `sqlx`, `tokio`, `lettre` or `async_imap`; `store` sits below
//! everything that drives it, so it names no `pipeline`, `outbox`, `daemon` or `http`. Read from
//! the source files themselves, so a new import fails here before it becomes a habit.

use std::fs;
use std::path::{Path, PathBuf};

/// What one layer's source must not name.
struct Rule {
    /// Crates not to name anywhere in code (imports or inline paths).
    crates: &'static [&'static str],
    /// Modules of this crate not to reach.
    modules: &'static [&'static str],
    /// Path starts that lead to this crate's top level. `super` is one for a top-level module's
    /// files, but inside `store` it leads to the store's own modules (`super::outbox`).
    roots: &'static [&'static str],
}

/// `desk` and `dian`: no storage, no mail, no I/O.
const PURE: Rule = Rule {
    crates: &["sqlx", "tokio", "lettre", "async_imap"],
    modules: &["store", "mail"],
    roots: &["crate", "super", "mesa_fe"],
};

/// `store`: takes and returns its own and the desk's types, never its callers'.
const STORE: Rule = Rule {
    crates: &[],
    modules: &["pipeline", "outbox", "daemon", "http"],
    roots: &["crate", "mesa_fe"],
};

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Punct(char),
}

/// Identifiers and punctuation of Rust source with their line numbers; comments, string and
/// character literals are dropped, since a word in a comment or a message is no dependency.
fn tokens(source: &str) -> Vec<(usize, Token)> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // Literals and comments are skipped whole; their newlines still count.
    let count_lines = |from: usize, to: usize, line: &mut usize| {
        *line += chars[from..to.min(chars.len())].iter().filter(|c| **c == '\n').count();
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let start = i;
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            count_lines(start, i, &mut line);
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && raw_string_at(&chars, i) {
            let start = i;
            i += 1;
            let mut hashes = 0;
            while chars[i] == '#' {
                hashes += 1;
                i += 1;
            }
            i += 1; // the opening quote
            loop {
                if i >= chars.len() {
                    break;
                }
                if chars[i] == '"' && (1..=hashes).all(|h| chars.get(i + h) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
            count_lines(start, i, &mut line);
        } else if c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            count_lines(start, i, &mut line);
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a): only the first is
            // skipped whole, so that '"' does not open a string.
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((line, Token::Ident(chars[start..i].iter().collect())));
        } else {
            out.push((line, Token::Punct(c)));
            i += 1;
        }
    }
    out
}

/// `r"…"` or `r#"…"#` starts at `i` (and not an identifier ending in r).
fn raw_string_at(chars: &[char], i: usize) -> bool {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return false;
    }
    let mut j = i + 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    chars.get(j) == Some(&'"')
}

/// Every name in `source` that `rule` forbids, as `line: what`.
fn violations(source: &str, rule: &Rule) -> Vec<String> {
    let tokens = tokens(source);
    let ident = |k: usize| match tokens.get(k) {
        Some((_, Token::Ident(name))) => Some(name.as_str()),
        _ => None,
    };
    let punct = |k: usize, p: char| matches!(tokens.get(k), Some((_, Token::Punct(c))) if *c == p);
    let mut found = Vec::new();
    for (k, (line, token)) in tokens.iter().enumerate() {
        let Token::Ident(name) = token else { continue };
        if rule.crates.contains(&name.as_str()) {
            found.push(format!("{line}: {name}"));
            continue;
        }
        if !rule.roots.contains(&name.as_str()) || !punct(k + 1, ':') || !punct(k + 2, ':') {
            continue;
        }
        if let Some(module) = ident(k + 3).filter(|m| rule.modules.contains(m)) {
            found.push(format!("{line}: {name}::{module}"));
        } else if punct(k + 3, '{') {
            // A grouped import: the first name of each item at the top level of the braces.
            let mut depth = 0;
            let mut item_start = true;
            for (item_line, t) in &tokens[k + 3..] {
                match t {
                    Token::Punct('{') => {
                        depth += 1;
                        item_start = depth == 1;
                        continue;
                    }
                    Token::Punct('}') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Token::Punct(',') if depth == 1 => {
                        item_start = true;
                        continue;
                    }
                    Token::Ident(m) if item_start && rule.modules.contains(&m.as_str()) => {
                        found.push(format!("{item_line}: {name}::{{{m}}}"));
                    }
                    _ => {}
                }
                item_start = false;
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// Every violation of `rule` in the source of these top-level modules (a folder and its
/// `NAME.rs`, whichever exist), as `path:line: what`; and how many files were read.
fn violations_in(modules: &[&str], rule: &Rule) -> (usize, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for module in modules {
        if root.join(module).is_dir() {
            rust_files(&root.join(module), &mut files);
        }
        files.push(root.join(format!("{module}.rs")));
    }
    files.retain(|path| path.exists());
    let mut problems = Vec::new();
    for path in &files {
        let source = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for v in violations(&source, rule) {
            problems.push(format!("{}:{v}", path.display()));
        }
    }
    (files.len(), problems)
}

#[test]
fn desk_and_dian_import_no_store_mail_or_io_crates() {
    let (read, problems) = violations_in(&["desk", "dian"], &PURE);
    assert!(read >= 10, "too few files read: {read}");
    assert!(
        problems.is_empty(),
        "desk and dian must not depend on store, mail or I/O crates (DESIGN.md):\n{}",
        problems.join("\n")
    );
}

#[test]
fn store_imports_none_of_its_callers() {
    let (read, problems) = violations_in(&["store"], &STORE);
    assert!(read >= 10, "too few files read: {read}");
    assert!(
        problems.is_empty(),
        "store must not depend on pipeline, outbox, daemon or http: it takes and returns its \
         own and the desk's types (DESIGN.md):\n{}",
        problems.join("\n")
    );
}

/// The scanner itself: what must be caught, and what must not be mistaken for a dependency.
#[test]
fn the_scanner_finds_imports_and_paths_but_not_words_in_comments_or_text() {
    let bad = "use crate::store::report::ReportRows;\n\
               use crate::{desk::Tema, mail};\n\
               fn f() { let _ = crate :: mail :: FileEntry::is_xml; }\n\
               async fn g() { tokio::task::yield_now().await }\n\
               use super::super::store;\n";
    assert_eq!(
        violations(bad, &PURE),
        ["1: crate::store", "2: crate::{mail}", "3: crate::mail", "4: tokio", "5: super::store"]
    );
    let fine = "//! Rows come from crate::store; replies go through crate::mail.\n\
                /* tokio and sqlx live elsewhere /* nested */ */\n\
                const NOTE: &str = \"use crate::store and sqlx\";\n\
                const RAW: &str = r#\"crate::mail \"lettre\"\"#;\n\
                const QUOTE: char = '\"';\n\
                fn h<'a>(mail: &'a str, store: &str) -> &'a str { let _ = store; mail }\n\
                use crate::desk::{Channel, case::{Status}};\n";
    assert_eq!(violations(fine, &PURE), Vec::<String>::new());
}

/// In the store, `super::outbox` is the store's own module; `crate::outbox` is the worker.
#[test]
fn the_store_rule_tells_its_own_modules_from_its_callers() {
    let source = "use super::outbox::OutboxDraft;\n\
                  use crate::pipeline::Analysis;\n\
                  use crate::{desk::Tema, daemon};\n\
                  fn f() { let _ = mesa_fe::http::serve; }\n\
                  use crate::store::outbox::timestamp;\n";
    assert_eq!(
        violations(source, &STORE),
        ["2: crate::pipeline", "3: crate::{daemon}", "4: mesa_fe::http"]
    );
}
