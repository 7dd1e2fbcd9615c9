//! Text helpers shared by the mail parser, the DIAN reader and the classifier.

use unicode_normalization::UnicodeNormalization;

/// Lower-cases and strips diacritics so that rules match "Habilitación", "HABILITACION" and
/// "habilitacion" alike. `ñ` becomes `n`, which is what a person typing without accents writes.
pub fn fold(text: &str) -> String {
    text.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_strips_accents_and_case() {
        assert_eq!(fold("Habilitación ÑANDÚ Título"), "habilitacion nandu titulo");
    }
}
