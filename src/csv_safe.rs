//! CSV cells that a spreadsheet will not run as formulas (CSV injection).
//!
//! Excel, LibreOffice and Google Sheets treat a cell that starts with `=`, `+`,
//! `-` or `@` (and, through DDE tricks, a tab or carriage return before them) as
//! a formula. OWASP's advice: prefix such a text cell with a single quote, which
//! the spreadsheet shows as text. Numbers are written by us and never pass
//! through here (a longitude of -72.34 must stay a number).

use std::borrow::Cow;

/// Characters that make a spreadsheet read a cell as a formula, with their
/// full-width forms (some spreadsheets fold them to ASCII).
fn is_trigger(c: char) -> bool {
    matches!(
        c,
        '=' | '+' | '-' | '@' | '\t' | '\r' | '\n' | '＝' | '＋' | '－' | '＠'
    )
}

/// A text cell, neutralised when a spreadsheet would take it for a formula.
/// Leading spaces do not hide a trigger: `"  =1+1"` is prefixed too.
pub fn text(value: &str) -> Cow<'_, str> {
    let first = value.chars().find(|c| *c != ' ' && *c != '\u{a0}');
    match first {
        Some(c) if is_trigger(c) || value.starts_with(is_trigger) => {
            Cow::Owned(format!("'{value}"))
        }
        _ => Cow::Borrowed(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text_and_plain_text_is_untouched() {
        for payload in [
            "=1+1",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\t=cmd",
            "\r=cmd",
            "\n=cmd",
            "  =HYPERLINK(\"http://x\")",
            "＝1+1",
        ] {
            assert_eq!(text(payload), format!("'{payload}"), "{payload:?}");
        }
        for plain in ["Pristina", "", "a=b", "2 victims - reported", "'quoted"] {
            assert_eq!(text(plain), plain);
        }
    }
}
