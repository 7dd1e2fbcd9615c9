//! "Dependencies point one way" (DESIGN.md): `desk` and `dian` are the pure middle, so their
//! source names no `store`, `mail`, `sqlx`, `tokio`, `lettre` or `async_imap`. Read from the
//! source files themselves, so a new import fails here before it becomes a habit.

use std::fs;
use std::path::{Path, PathBuf};

/// Crates the pure modules must not name anywhere in code (imports or inline paths).
const FORBIDDEN_CRATES: [&str; 4] = ["sqlx", "tokio", "lettre", "async_imap"];
/// Modules of this crate the pure modules must not reach.
const FORBIDDEN_MODULES: [&str; 2] = ["store", "mail"];

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

/// Every forbidden name in `source`, as `line: what`.
fn violations(source: &str) -> Vec<String> {
    let tokens = tokens(source);
    let ident = |k: usize| match tokens.get(k) {
        Some((_, Token::Ident(name))) => Some(name.as_str()),
        _ => None,
    };
    let punct = |k: usize, p: char| matches!(tokens.get(k), Some((_, Token::Punct(c))) if *c == p);
    let mut found = Vec::new();
    for (k, (line, token)) in tokens.iter().enumerate() {
        let Token::Ident(name) = token else { continue };
        if FORBIDDEN_CRATES.contains(&name.as_str()) {
            found.push(format!("{line}: {name}"));
            continue;
        }
        if !["crate", "super", "mesa_fe"].contains(&name.as_str())
            || !punct(k + 1, ':')
            || !punct(k + 2, ':')
        {
            continue;
        }
        if let Some(module) = ident(k + 3).filter(|m| FORBIDDEN_MODULES.contains(m)) {
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
                    Token::Ident(m) if item_start && FORBIDDEN_MODULES.contains(&m.as_str()) => {
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

#[test]
fn desk_and_dian_import_no_store_mail_or_io_crates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for module in ["desk", "dian"] {
        rust_files(&root.join(module), &mut files);
        files.push(root.join(format!("{module}.rs")));
    }
    files.retain(|path| path.exists());
    assert!(files.len() >= 10, "too few files read: {files:?}");
    let mut problems = Vec::new();
    for path in &files {
        let source = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for v in violations(&source) {
            problems.push(format!("{}:{v}", path.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "desk and dian must not depend on store, mail or I/O crates (DESIGN.md):\n{}",
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
        violations(bad),
        ["1: crate::store", "2: crate::{mail}", "3: crate::mail", "4: tokio", "5: super::store"]
    );
    let fine = "//! Rows come from crate::store; replies go through crate::mail.\n\
                /* tokio and sqlx live elsewhere /* nested */ */\n\
                const NOTE: &str = \"use crate::store and sqlx\";\n\
                const RAW: &str = r#\"crate::mail \"lettre\"\"#;\n\
                const QUOTE: char = '\"';\n\
                fn h<'a>(mail: &'a str, store: &str) -> &'a str { let _ = store; mail }\n\
                use crate::desk::{Channel, case::{Status}};\n";
    assert_eq!(violations(fine), Vec::<String>::new());
}
