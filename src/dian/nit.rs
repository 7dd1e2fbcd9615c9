//! NIT check digit (DV), DIAN's mod-11 algorithm, and NIT text normalisation.

/// Weights DIAN applies to the NIT digits, starting from the rightmost digit.
const WEIGHTS: [u32; 15] = [3, 7, 13, 17, 19, 23, 29, 37, 41, 43, 47, 53, 59, 67, 71];

/// The check digit (DV) of a NIT written as digits only (no dots, no DV), or `None` when the
/// text is empty, longer than 15 digits or not all digits.
pub fn check_digit(nit: &str) -> Option<u8> {
    if nit.is_empty() || nit.len() > WEIGHTS.len() || !nit.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = nit.bytes().rev().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    let remainder = sum % 11;
    let dv = if remainder < 2 { remainder } else { 11 - remainder };
    u8::try_from(dv).ok()
}

/// Splits a NIT as people write it ("900.123.456-7", "NIT 900123456 - 7", "900,123,456")
/// into its digits and the DV written after the dash, if any. `None` when the text is not a
/// NIT (letters, no digits, more than 15 digits, a DV that is not one digit).
///
/// A DV glued to the digits without a dash ("9001234567") cannot be told apart from a longer
/// NIT, so it stays part of the digits.
pub fn normalize_nit(text: &str) -> Option<(String, Option<u8>)> {
    let text = strip_nit_label(text.trim());
    let (body, dv) = match text.rsplit_once('-') {
        Some((body, dv)) => (body, Some(parse_dv(dv)?)),
        None => (text, None),
    };
    let mut digits = String::with_capacity(body.len());
    for c in body.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '.' | ',' | ' ' | '\u{a0}' => {}
            _ => return None,
        }
    }
    if digits.is_empty() || digits.len() > WEIGHTS.len() {
        return None;
    }
    Some((digits, dv))
}

/// Drops a leading "NIT", "Nit:" or "NIT." that requesters type before the number.
fn strip_nit_label(text: &str) -> &str {
    let Some(prefix) = text.get(..3) else { return text };
    if !prefix.eq_ignore_ascii_case("nit") {
        return text;
    }
    text[3..].trim_start_matches([':', '.', ' ', '\u{a0}', '#'])
}

fn parse_dv(text: &str) -> Option<u8> {
    let text = text.trim();
    let mut chars = text.chars();
    let digit = chars.next()?.to_digit(10)?;
    if chars.next().is_some() {
        return None;
    }
    u8::try_from(digit).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dian_own_nit_has_dv_4() {
        assert_eq!(check_digit("800197268"), Some(4));
    }

    #[test]
    fn sample_nits_match_the_dv_in_their_scheme_id() {
        // (NIT, @schemeID) pairs from tests/fixtures/dian/*.xml (authored and Stenfrank samples).
        let samples = [
            ("900481236", 9),
            ("900917354", 3),
            ("901347286", 8),
            ("800845127", 5),
            ("901066392", 4),
            ("901552709", 1),
            ("900238615", 7),
            ("901378205", 4),
            ("900634871", 4),
            ("901204519", 5),
            ("900108281", 3),
            ("981223983", 1),
        ];
        for (nit, dv) in samples {
            assert_eq!(check_digit(nit), Some(dv), "NIT {nit}");
        }
    }

    #[test]
    fn remainder_zero_and_one_give_the_remainder_itself() {
        // "15": 5·3 + 1·7 = 22, remainder 0 → DV 0.
        assert_eq!(check_digit("15"), Some(0));
        // "4": 4·3 = 12, remainder 1 → DV 1.
        assert_eq!(check_digit("4"), Some(1));
        // "8": 8·3 = 24, remainder 2 → DV 11 − 2 = 9.
        assert_eq!(check_digit("8"), Some(9));
        // "11": 3 + 7 = 10, remainder 10 → DV 1.
        assert_eq!(check_digit("11"), Some(1));
    }

    #[test]
    fn check_digit_refuses_what_is_not_a_bare_nit() {
        assert_eq!(check_digit(""), None);
        assert_eq!(check_digit("900.123.456"), None);
        assert_eq!(check_digit("90012345A"), None);
        assert_eq!(check_digit("1234567890123456"), None);
    }

    #[test]
    fn normalize_splits_digits_and_dv() {
        assert_eq!(normalize_nit("900.123.456-7"), Some(("900123456".into(), Some(7))));
        assert_eq!(normalize_nit(" NIT: 800197268 - 4 "), Some(("800197268".into(), Some(4))));
        assert_eq!(normalize_nit("900,481,236"), Some(("900481236".into(), None)));
        assert_eq!(normalize_nit("17342118"), Some(("17342118".into(), None)));
    }

    #[test]
    fn normalize_refuses_non_nits() {
        assert_eq!(normalize_nit(""), None);
        assert_eq!(normalize_nit("-7"), None);
        assert_eq!(normalize_nit("900123456-77"), None);
        assert_eq!(normalize_nit("AB123456"), None);
        assert_eq!(normalize_nit("900123456-X"), None);
    }
}
