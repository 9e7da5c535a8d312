//! CSV cells that a spreadsheet will not run as formulas (CSV injection).
//!
//! Excel, LibreOffice and Google Sheets treat a cell that starts with `=`, `+`,
//! `-` or `@` (and, through DDE tricks, a tab or carriage return before them) as
//! a formula. OWASP's advice: prefix such a text cell with a single quote, which
//! the spreadsheet shows as text. Numbers are written by us and never pass
//! through here (a longitude of -72.34 must stay a number).

use std::borrow::Cow;

/// Characters that make a spreadsheet read a cell as a formula, with their
/// full-width and small forms (some spreadsheets fold them to ASCII), and the
/// other minus signs (U+2212 and the hyphens that importers fold to `-`).
fn is_trigger(c: char) -> bool {
    matches!(
        c,
        '=' | '+'
            | '-'
            | '@'
            | '\t'
            | '\r'
            | '\n'
            | '\u{0b}'
            | '\u{0c}'
            | '＝'
            | '＋'
            | '－'
            | '＠'
            | '﹦'
            | '﹢'
            | '﹣'
            | '﹫'
            | '\u{2212}'
    )
}

/// What a spreadsheet skips before it looks for a trigger: spaces of every kind
/// (a cell `"\u{3000}=1+1"` is still a formula once trimmed) and the invisible
/// format characters (byte order mark, zero-width spaces and joiners).
fn is_padding(c: char) -> bool {
    (c.is_whitespace() && !is_trigger(c))
        || matches!(
            c,
            '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}' | '\u{00ad}'
        )
}

/// A text cell, neutralised when a spreadsheet would take it for a formula.
/// Leading spaces do not hide a trigger: `"  =1+1"` is prefixed too.
pub fn text(value: &str) -> Cow<'_, str> {
    let first = value.chars().find(|c| !is_padding(*c));
    match first {
        Some(c) if is_trigger(c) => Cow::Owned(format!("'{value}")),
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
            "﹦1+1",
            "\u{2212}1+1",
            "\u{3000}=1+1",
            "\u{feff}=1+1",
            "\u{200b}@SUM(A1)",
            "\u{a0}\u{2003}+1",
            "=cmd|' /C calc'!A0",
        ] {
            assert_eq!(text(payload), format!("'{payload}"), "{payload:?}");
        }
        for plain in [
            "Pristina",
            "",
            "   ",
            "a=b",
            "2 victims - reported",
            "'quoted",
            "2024-01-10T10:00:00Z",
            "#description",
        ] {
            assert_eq!(text(plain), plain);
        }
    }
}
