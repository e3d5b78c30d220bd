//! Rules for the text that users write and that others read: nicknames and
//! the other profile fields.
//!
//! Bidirectional controls can make a name display reversed or reorder the
//! text around it (a name ending in U+202E and `txt.exe` reads as `…exe.txt`), and a
//! name made only of zero-width or filler characters shows as a blank that
//! still looks like a user. Both are refused.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The bidirectional embedding, override and isolate controls.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `s` holds a bidirectional control character.
pub fn has_bidi_control(s: &str) -> bool {
    s.chars().any(is_bidi_control)
}

/// Letters that render as blank space although Unicode files them as
/// letters or symbols (the Hangul fillers, the blank Braille pattern).
const BLANK_LETTERS: [char; 5] = ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}', '\u{2800}'];

/// Whether `c` leaves a mark: not a space, a control, a format character
/// (zero-width space and joiners, marks of direction), a lone combining
/// mark, an unassigned code point or a blank filler.
pub fn is_visible(c: char) -> bool {
    use GeneralCategory as G;
    !matches!(
        c.general_category(),
        G::Control
            | G::Format
            | G::SpaceSeparator
            | G::LineSeparator
            | G::ParagraphSeparator
            | G::NonspacingMark
            | G::EnclosingMark
            | G::Unassigned
            | G::Surrogate
    ) && !BLANK_LETTERS.contains(&c)
}

/// Whether `s` has at least one character that leaves a mark.
pub fn has_visible_char(s: &str) -> bool {
    s.chars().any(is_visible)
}

/// Escapes text and attribute content of XML and HTML (`&`, `<`, `>`, both
/// quotes), and drops the control characters that XML 1.0 forbids, since
/// what is escaped may come from end-user profile data.
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_controls_are_found() {
        assert!(has_bidi_control("abc\u{202E}txt.exe"));
        assert!(has_bidi_control("\u{2066}x\u{2069}"));
        assert!(!has_bidi_control("小明 Ming"));
        // Marks of direction are format characters, not embeddings.
        assert!(!has_bidi_control("a\u{200F}b"));
    }

    #[test]
    fn invisible_names_are_found() {
        for blank in [
            "\u{200B}",
            "\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}",
            "\u{3164}\u{3164}",
            "\u{2800}",
            "\u{0301}",
            " \u{00A0}\u{3000}",
            "",
        ] {
            assert!(!has_visible_char(blank), "{blank:?}");
        }
        for name in ["小明", "a", "🙂", "微信用户", "\u{200B}x"] {
            assert!(has_visible_char(name), "{name:?}");
        }
    }
}
