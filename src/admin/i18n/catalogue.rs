//! The message catalogues: `locales/<tag>/*.ftl`, built into the binary and
//! read once into a Fluent bundle per language. They are constant data, so
//! one lazily built static holds them.

use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

use super::{Arg, Lang};

/// Each language's files, by name. A new language adds its folder here.
fn sources(lang: Lang) -> [(&'static str, &'static str); 7] {
    macro_rules! files {
        ($tag:literal) => {
            [
                (
                    "common.ftl",
                    include_str!(concat!("../../../locales/", $tag, "/common.ftl")),
                ),
                (
                    "signin.ftl",
                    include_str!(concat!("../../../locales/", $tag, "/signin.ftl")),
                ),
                (
                    "users.ftl",
                    include_str!(concat!("../../../locales/", $tag, "/users.ftl")),
                ),
                (
                    "pages.ftl",
                    include_str!(concat!("../../../locales/", $tag, "/pages.ftl")),
                ),
                (
                    "errors.ftl",
                    include_str!(concat!("../../../locales/", $tag, "/errors.ftl")),
                ),
                (
                    "account.ftl",
                    include_str!(concat!("../../../locales/", $tag, "/account.ftl")),
                ),
                (
                    "charts.ftl",
                    include_str!(concat!("../../../locales/", $tag, "/charts.ftl")),
                ),
            ]
        };
    }
    match lang {
        Lang::ZhCn => files!("zh-CN"),
        Lang::En => files!("en"),
    }
}

type Bundle = FluentBundle<FluentResource>;

/// A broken catalogue is a build mistake, which the tests below catch; it
/// stops the first page that needs it rather than showing keys.
fn build(lang: Lang) -> Bundle {
    let id = lang.tag().parse().expect("a valid language tag");
    let mut bundle = Bundle::new_concurrent(vec![id]);
    // Pages are HTML, not bidirectional text: no Unicode isolation marks
    // around the arguments.
    bundle.set_use_isolating(false);
    for (name, source) in sources(lang) {
        let resource = FluentResource::try_new(source.to_owned()).unwrap_or_else(|(_, errors)| {
            panic!("locales/{}/{name} does not parse: {errors:?}", lang.tag())
        });
        bundle.add_resource(resource).unwrap_or_else(|errors| {
            panic!("locales/{}/{name} repeats a key: {errors:?}", lang.tag())
        });
    }
    bundle
}

static BUNDLES: LazyLock<[Bundle; 2]> = LazyLock::new(|| Lang::ALL.map(build));

fn bundle(lang: Lang) -> &'static Bundle {
    let i = Lang::ALL
        .iter()
        .position(|l| *l == lang)
        .expect("every language has a bundle");
    &BUNDLES[i]
}

/// The message `key` in `lang` with `args`. A missing key shows as itself
/// and is logged; the tests keep that from happening.
pub(super) fn format(lang: Lang, key: &str, args: &[(&str, Arg)]) -> String {
    let bundle = bundle(lang);
    let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
        tracing::error!(key, lang = lang.tag(), "no such message in the catalogue");
        return key.to_owned();
    };
    let args: Option<FluentArgs> = (!args.is_empty()).then(|| {
        args.iter()
            .map(|(name, value)| {
                let value = match value {
                    Arg::Text(s) => FluentValue::from(s.clone()),
                    Arg::Number(n) => FluentValue::from(*n),
                    Arg::Key(key) => FluentValue::from(format(lang, key, &[])),
                };
                (*name, value)
            })
            .collect()
    });
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, args.as_ref(), &mut errors);
    if !errors.is_empty() {
        tracing::error!(
            key,
            lang = lang.tag(),
            ?errors,
            "a message's arguments are wrong"
        );
    }
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    use fluent_syntax::ast::Entry;

    use super::*;

    /// An FTL file's messages with their whole text: a message starts at
    /// the line with its key and goes on over the indented lines below.
    fn texts(source: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut open = false;
        for line in source.lines() {
            if line.starts_with(' ') && open {
                let (_, text) = out.last_mut().expect("open message");
                text.push('\n');
                text.push_str(line);
            } else if let Some((key, text)) = line.split_once(" =") {
                open = !line.starts_with('#');
                if open {
                    out.push((key.to_owned(), text.to_owned()));
                }
            } else {
                open = false;
            }
        }
        out
    }

    /// The `$variables` in a message's text.
    fn variables(text: &str) -> BTreeSet<String> {
        text.split('$')
            .skip(1)
            .map(|rest| {
                rest.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect()
            })
            .collect()
    }

    /// The variables a message only chooses its plural form by (`{ $n ->`),
    /// which a language without plurals need not use.
    fn selectors(text: &str) -> BTreeSet<String> {
        variables(text)
            .into_iter()
            .filter(|v| text.contains(&format!("${v} ->")))
            .collect()
    }

    /// Each key of `lang`'s catalogue with its text, checking that Fluent
    /// reads every file whole.
    fn keys(lang: Lang) -> BTreeMap<String, String> {
        let mut keys = BTreeMap::new();
        for (name, source) in sources(lang) {
            let resource = FluentResource::try_new(source.to_owned())
                .unwrap_or_else(|(_, e)| panic!("{}/{name}: {e:?}", lang.tag()));
            let mut ids = BTreeSet::new();
            for entry in resource.entries() {
                match entry {
                    Entry::Message(m) => {
                        let id = m.id.name;
                        assert!(m.value.is_some(), "{}/{name}: {id} has no text", lang.tag());
                        ids.insert(id.to_owned());
                    }
                    Entry::Junk { content } => panic!("{}/{name}: junk {content:?}", lang.tag()),
                    _ => {}
                }
            }
            let texts = texts(source);
            let found: BTreeSet<String> = texts.iter().map(|(k, _)| k.clone()).collect();
            assert_eq!(
                found,
                ids,
                "{}/{name}: the test's reading of the file",
                lang.tag()
            );
            for (key, text) in texts {
                let new = keys.insert(key.clone(), text).is_none();
                assert!(new, "{}: {key} twice", lang.tag());
            }
        }
        keys
    }

    #[test]
    fn both_catalogues_have_the_same_keys_and_arguments() {
        let zh = keys(Lang::ZhCn);
        let en = keys(Lang::En);
        let only = |a: &BTreeMap<String, _>, b: &BTreeMap<String, _>| -> Vec<String> {
            a.keys().filter(|k| !b.contains_key(*k)).cloned().collect()
        };
        assert!(
            only(&zh, &en).is_empty(),
            "only in zh-CN: {:?}",
            only(&zh, &en)
        );
        assert!(
            only(&en, &zh).is_empty(),
            "only in en: {:?}",
            only(&en, &zh)
        );
        for (key, text) in &zh {
            let (zh_vars, en_vars) = (variables(text), variables(&en[key]));
            assert!(
                zh_vars.is_subset(&en_vars),
                "{key}: zh-CN uses {zh_vars:?}, en {en_vars:?}"
            );
            let unused: BTreeSet<String> = en_vars.difference(&zh_vars).cloned().collect();
            assert!(
                unused.is_subset(&selectors(&en[key])),
                "{key}: zh-CN does not use {unused:?}"
            );
        }
    }

    /// Messages are escaped where they are shown, except the `-html` ones,
    /// which the templates show as they are: only those may hold markup.
    #[test]
    fn markup_is_only_in_html_keys() {
        for lang in Lang::ALL {
            for (name, source) in sources(lang) {
                for (key, text) in texts(source) {
                    assert_eq!(
                        text.contains('<'),
                        key.ends_with("-html"),
                        "{}/{name}: {key}",
                        lang.tag()
                    );
                }
            }
        }
    }

    /// The keys that the templates and the admin code name literally:
    /// `t.get("…")`, `t.one("…"`, `t.two("…"`, `Msg::new("…")`, `Msg::one("…"`
    /// (the keys of the domain's words are checked in `words.rs`).
    fn used_keys() -> BTreeSet<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        let mut dirs = vec![root.join("templates/admin"), root.join("src/admin")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        let mut used = BTreeSet::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for call in ["get(", "one(", "two(", "Msg::new("] {
                for piece in text.split(call).skip(1) {
                    let Some(piece) = piece.trim_start().strip_prefix('"') else {
                        continue;
                    };
                    let key = &piece[..piece.find('"').unwrap()];
                    let looks_like_key = key.contains('-')
                        && key
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
                    if looks_like_key {
                        used.insert(key.to_owned());
                    }
                }
            }
        }
        used
    }

    #[test]
    fn every_key_used_exists() {
        let used = used_keys();
        assert!(used.len() > 100, "the scan finds the keys: {}", used.len());
        for lang in Lang::ALL {
            let keys = keys(lang);
            let missing: Vec<_> = used.iter().filter(|k| !keys.contains_key(*k)).collect();
            assert!(missing.is_empty(), "{} lacks {missing:?}", lang.tag());
        }
    }

    #[test]
    fn every_message_formats() {
        for lang in Lang::ALL {
            for (key, text) in keys(lang) {
                let vars = variables(&text);
                let args: Vec<(&str, Arg)> = vars
                    .iter()
                    .map(|v| (v.as_str(), Arg::Number(2.0)))
                    .collect();
                let text = format(lang, &key, &args);
                assert!(!text.is_empty() && text != key, "{}: {key}", lang.tag());
            }
        }
    }
}
