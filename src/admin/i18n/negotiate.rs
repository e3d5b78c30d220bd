//! Which language a request gets: the admin's stored choice, else the
//! browser's `Accept-Language`, else Chinese.

use super::Lang;

/// The most of a header that is read, and of its ranges.
const MAX_HEADER_BYTES: usize = 1024;
const MAX_RANGES: usize = 32;

/// The language for an admin whose stored preference is `stored` (`None`:
/// none, or not signed in) and whose browser sent `accept_language`.
pub fn choose(stored: Option<&str>, accept_language: Option<&str>) -> Lang {
    stored
        .and_then(Lang::from_tag)
        .or_else(|| accept_language.and_then(from_accept_language))
        .unwrap_or(Lang::DEFAULT)
}

/// The language range of a header that matches one of ours, by weight
/// (`q`) and then order. Any Chinese is zh-CN and any English is en: we
/// have one of each. `*` takes the default.
fn from_accept_language(header: &str) -> Option<Lang> {
    let header = header.get(..MAX_HEADER_BYTES).unwrap_or(header);
    let mut ranges: Vec<(f32, usize, &str)> = header
        .split(',')
        .take(MAX_RANGES)
        .enumerate()
        .filter_map(|(i, part)| {
            let mut params = part.split(';');
            let range = params.next()?.trim();
            let q = match params.find_map(|p| p.trim().strip_prefix("q=")) {
                None => 1.0,
                Some(q) => q
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q))?,
            };
            (q > 0.0 && !range.is_empty()).then_some((q, i, range))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges.into_iter().find_map(|(_, _, range)| {
        let primary = range.split(['-', '_']).next().unwrap_or(range);
        match primary.to_ascii_lowercase().as_str() {
            "zh" => Some(Lang::ZhCn),
            "en" => Some(Lang::En),
            "*" => Some(Lang::DEFAULT),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_chooses_without_a_preference() {
        let cases = [
            (None, Lang::ZhCn),
            (Some(""), Lang::ZhCn),
            (Some("en-US,en;q=0.9"), Lang::En),
            (Some("zh-CN,zh;q=0.9,en;q=0.8"), Lang::ZhCn),
            (Some("en;q=0.5, zh-TW;q=0.8"), Lang::ZhCn),
            (Some("fr-FR, en-GB;q=0.7"), Lang::En),
            (Some("fr, de"), Lang::ZhCn),
            (Some("de, *;q=0.5"), Lang::ZhCn),
            (Some("en;q=0, zh;q=0.1"), Lang::ZhCn),
            (Some("EN"), Lang::En),
            (Some("en;q=abc"), Lang::ZhCn),
            (Some(";;;,,,"), Lang::ZhCn),
        ];
        for (header, lang) in cases {
            assert_eq!(choose(None, header), lang, "{header:?}");
        }
    }

    #[test]
    fn a_stored_preference_wins_when_it_is_ours() {
        assert_eq!(choose(Some("en"), Some("zh-CN")), Lang::En);
        assert_eq!(choose(Some("zh-CN"), Some("en")), Lang::ZhCn);
        assert_eq!(choose(Some("klingon"), Some("en")), Lang::En);
        assert_eq!(choose(Some("klingon"), None), Lang::ZhCn);
    }
}
