//! A small check of the console's pages, for every page test: valid structure and labelled
//! controls, as a screen reader and a keyboard need them, and nothing the CSP would block.
//!
//! `assert_accessible(&page.body)` fails with the list of problems. A hand-rolled tag scanner
//! (no HTML parser among the dependencies); it asks for explicit end tags, which our templates
//! write, except on void elements.
//!
//! Rules: tags balanced; `<html lang>`; one `<h1>`; a non-empty `<title>`; unique ids; every
//! `<input>` (except hidden, submit, button, reset, image), `<select>` and `<textarea>` labelled
//! (`<label for=id>`, inside a `<label>`, `aria-label` or `aria-labelledby`); every `<button>`
//! with text or `aria-label`; no inline `<script>` or `<style>` content; no `style=`
//! attribute; no `src`/`href`/`action` to another host (`http://`, `https://`, `//`).

use std::collections::{HashMap, HashSet};

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Panics with every problem of `html` (see the module's rules).
pub fn assert_accessible(html: &str) {
    let problems = problems(html);
    assert!(problems.is_empty(), "página no accesible:\n- {}\n\n{html}", problems.join("\n- "));
}

/// One start or end tag as read.
#[derive(Debug)]
struct Tag {
    name: String,
    closing: bool,
    self_closing: bool,
    attributes: HashMap<String, String>,
}

impl Tag {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }

    fn has_nonempty(&self, name: &str) -> bool {
        self.attribute(name).is_some_and(|v| !v.trim().is_empty())
    }
}

/// What the scan has seen so far.
#[derive(Default)]
struct Scan {
    problems: Vec<String>,
    open: Vec<String>,
    ids: HashSet<String>,
    label_for: HashSet<String>,
    /// Controls that need a label, by id (`None`: no id), checked at the end.
    controls: Vec<(String, Option<String>)>,
    h1: usize,
    title: Option<String>,
    /// The text of the `<button>` (and `<title>`) being read.
    button: Option<(bool, String)>,
    lang: bool,
}

/// Every problem of `html`, in the order found.
pub fn problems(html: &str) -> Vec<String> {
    let mut scan = Scan::default();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        scan.text(&rest[..start]);
        rest = &rest[start..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        if rest.starts_with("<!") {
            rest = rest.find('>').map_or("", |end| &rest[end + 1..]);
            continue;
        }
        let Some((tag, after)) = read_tag(rest) else {
            scan.problems.push(format!("etiqueta sin cerrar: {}", head(rest)));
            break;
        };
        rest = after;
        if !tag.closing && (tag.name == "script" || tag.name == "style") {
            let end = format!("</{}", tag.name);
            let close = rest.to_ascii_lowercase().find(&end).unwrap_or(rest.len());
            if !rest[..close].trim().is_empty() {
                scan.problems
                    .push(format!("contenido en línea en <{}> (la CSP lo bloquea)", tag.name));
            }
            rest = &rest[close..];
        }
        scan.tag(&tag);
    }
    scan.text(rest);
    scan.finish()
}

impl Scan {
    fn text(&mut self, text: &str) {
        if let Some((_, button)) = &mut self.button {
            button.push_str(text);
        }
        if self.open.last().is_some_and(|t| t == "title") {
            self.title.get_or_insert_with(String::new).push_str(text);
        }
    }

    fn tag(&mut self, tag: &Tag) {
        if tag.closing {
            self.close(&tag.name);
            return;
        }
        self.attributes(tag);
        match tag.name.as_str() {
            "html" => self.lang = tag.has_nonempty("lang"),
            "h1" => self.h1 += 1,
            "title" => {
                self.title.get_or_insert_with(String::new);
            }
            "label" => {
                if let Some(target) = tag.attribute("for") {
                    self.label_for.insert(target.to_string());
                }
            }
            "button" => self.button = Some((tag.has_nonempty("aria-label"), String::new())),
            "input" | "select" | "textarea" => self.control(tag),
            _ => {}
        }
        if !VOID.contains(&tag.name.as_str()) && !tag.self_closing {
            self.open.push(tag.name.clone());
        }
    }

    fn attributes(&mut self, tag: &Tag) {
        if let Some(id) = tag.attribute("id")
            && !self.ids.insert(id.to_string())
        {
            self.problems.push(format!("id repetido: {id}"));
        }
        if tag.attributes.contains_key("style") {
            self.problems.push(format!("atributo style= en <{}> (la CSP lo bloquea)", tag.name));
        }
        for name in ["src", "href", "action"] {
            if let Some(url) = tag.attribute(name) {
                let url = url.trim().to_ascii_lowercase();
                if url.starts_with("http://")
                    || url.starts_with("https://")
                    || url.starts_with("//")
                {
                    self.problems.push(format!("{name} a otro servidor en <{}>: {url}", tag.name));
                }
            }
        }
    }

    fn control(&mut self, tag: &Tag) {
        let kind = tag.attribute("type").unwrap_or("text").to_ascii_lowercase();
        let exempt = tag.name == "input"
            && matches!(kind.as_str(), "hidden" | "submit" | "button" | "reset" | "image");
        let labelled = tag.has_nonempty("aria-label")
            || tag.has_nonempty("aria-labelledby")
            || self.open.iter().any(|t| t == "label");
        if !exempt && !labelled {
            let name = tag.attribute("name").unwrap_or_default();
            let what = format!("<{} name=\"{name}\">", tag.name);
            self.controls.push((what, tag.attribute("id").map(str::to_string)));
        }
    }

    fn close(&mut self, name: &str) {
        if name == "button"
            && let Some((aria, text)) = self.button.take()
            && !aria
            && text.trim().is_empty()
        {
            self.problems.push("un <button> sin texto ni aria-label".into());
        }
        match self.open.iter().rposition(|t| t == name) {
            Some(at) if at + 1 == self.open.len() => {
                self.open.pop();
            }
            Some(at) => {
                let unclosed = self.open.split_off(at);
                self.problems.push(format!("</{name}> cierra también {:?}", &unclosed[1..]));
            }
            None => self.problems.push(format!("</{name}> sin etiqueta de apertura")),
        }
    }

    fn finish(mut self) -> Vec<String> {
        if !self.open.is_empty() {
            self.problems.push(format!("etiquetas sin cerrar: {:?}", self.open));
        }
        if !self.lang {
            self.problems.push("<html> sin lang".into());
        }
        if self.h1 != 1 {
            self.problems.push(format!("{} <h1> (debe haber uno)", self.h1));
        }
        if self.title.as_deref().is_none_or(|t| t.trim().is_empty()) {
            self.problems.push("sin <title> o vacío".into());
        }
        for (what, id) in &self.controls {
            if id.as_ref().is_none_or(|id| !self.label_for.contains(id)) {
                self.problems
                    .push(format!("{what} sin <label for>, aria-label ni aria-labelledby"));
            }
        }
        self.problems
    }
}

/// The tag at the start of `text` (`<…>`) and what follows it; `None` when it never ends.
fn read_tag(text: &str) -> Option<(Tag, &str)> {
    let inner_start = 1;
    let bytes = text.as_bytes();
    let mut i = inner_start;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        match (quote, bytes[i]) {
            (Some(q), b) if b == q => quote = None,
            (None, b'"' | b'\'') => quote = Some(bytes[i]),
            (None, b'>') => break,
            _ => {}
        }
        i += 1;
    }
    if i >= bytes.len() {
        return None;
    }
    let inside = &text[inner_start..i];
    Some((parse_tag(inside), &text[i + 1..]))
}

fn parse_tag(inside: &str) -> Tag {
    let closing = inside.starts_with('/');
    let body = inside.trim_start_matches('/');
    let self_closing = body.trim_end().ends_with('/');
    let body = body.trim_end().trim_end_matches('/');
    let name_end = body.find(|c: char| c.is_whitespace()).unwrap_or(body.len());
    let name = body[..name_end].to_ascii_lowercase();
    Tag { name, closing, self_closing, attributes: parse_attributes(&body[name_end..]) }
}

/// `a="1" b='2' c=3 d` → {a: 1, b: 2, c: 3, d: ""}.
fn parse_attributes(mut text: &str) -> HashMap<String, String> {
    let mut attributes = HashMap::new();
    loop {
        text = text.trim_start();
        if text.is_empty() {
            return attributes;
        }
        let name_end = text.find(|c: char| c.is_whitespace() || c == '=').unwrap_or(text.len());
        let name = text[..name_end].to_ascii_lowercase();
        text = text[name_end..].trim_start();
        let value = match text.strip_prefix('=') {
            Some(after) => {
                let after = after.trim_start();
                let (value, rest) = match after.chars().next() {
                    Some(q @ ('"' | '\'')) => {
                        let body = &after[1..];
                        let end = body.find(q).unwrap_or(body.len());
                        (&body[..end], body.get(end + 1..).unwrap_or(""))
                    }
                    _ => {
                        let end = after.find(char::is_whitespace).unwrap_or(after.len());
                        (&after[..end], &after[end..])
                    }
                };
                text = rest;
                value.to_string()
            }
            None => String::new(),
        };
        attributes.insert(name, value);
    }
}

fn head(text: &str) -> &str {
    text.char_indices().nth(60).map_or(text, |(i, _)| &text[..i])
}
