//! The requester's own words, without quoted history and signatures.

/// Stub: the mail helper fills this in.
pub fn own_words(text: &str) -> String {
    text.trim().to_string()
}
