//! The admin site's languages and time zone. Every word a page shows comes
//! from the message catalogues in `locales/` (Project Fluent), through a
//! [`Tr`] that each handler takes from its request: the language the admin
//! chose, else the browser's (`Accept-Language`), else Chinese; and the
//! site's display time zone.

mod catalogue;
mod negotiate;

use std::fmt;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chrono::NaiveDateTime;
use chrono_tz::Tz;

pub use self::negotiate::choose;
use super::AdminIdentity;
use crate::domain::display_time;
use crate::state::AppState;

/// A language the admin site speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    ZhCn,
    En,
}

impl Lang {
    /// Every language, in the order the switcher offers them.
    pub const ALL: [Lang; 2] = [Self::ZhCn, Self::En];
    /// Without a preference or a browser's wish: the operators read Chinese.
    pub const DEFAULT: Lang = Self::ZhCn;

    /// Its language tag: in `<html lang>`, in `admins.locale` and in the
    /// name of its folder in `locales/`.
    pub fn tag(self) -> &'static str {
        match self {
            Self::ZhCn => "zh-CN",
            Self::En => "en",
        }
    }

    /// The language of a stored or submitted tag, exactly one of ours.
    pub fn from_tag(tag: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|l| l.tag().eq_ignore_ascii_case(tag.trim()))
    }

    /// Its name in itself, as the switcher shows it.
    pub fn own_name(self) -> &'static str {
        match self {
            Self::ZhCn => "中文",
            Self::En => "English",
        }
    }
}

/// A value put into a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Text(String),
    /// A number, so that a message can choose its plural form.
    Number(f64),
    /// Another message, put in in the same language.
    Key(&'static str),
}

/// Another message as an argument: a role's name in a refusal, say.
#[derive(Debug, Clone, Copy)]
pub struct Key(pub &'static str);

impl ToArg for Key {
    fn to_arg(&self) -> Arg {
        Arg::Key(self.0)
    }
}

/// What can be put into a message. Templates pass their values by
/// reference, hence the blanket implementation.
pub trait ToArg {
    fn to_arg(&self) -> Arg;
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> Arg {
        (**self).to_arg()
    }
}

impl ToArg for str {
    fn to_arg(&self) -> Arg {
        Arg::Text(self.to_owned())
    }
}

impl ToArg for String {
    fn to_arg(&self) -> Arg {
        Arg::Text(self.clone())
    }
}

macro_rules! number_args {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Arg {
                Arg::Number(*self as f64)
            }
        }
    )*};
}
number_args!(i16, i32, i64, u32, u64, usize, f64);

/// A message to say later, in the language of whoever reads it: a
/// catalogue key and its arguments. Errors carry these.
#[derive(Debug, Clone, PartialEq)]
pub struct Msg {
    pub key: &'static str,
    pub args: Vec<(&'static str, Arg)>,
}

impl Msg {
    pub fn new(key: &'static str) -> Self {
        Self {
            key,
            args: Vec::new(),
        }
    }

    pub fn one(key: &'static str, name: &'static str, value: impl ToArg) -> Self {
        Self::new(key).arg(name, value)
    }

    /// With one more argument.
    pub fn arg(mut self, name: &'static str, value: impl ToArg) -> Self {
        self.args.push((name, value.to_arg()));
        self
    }
}

/// In English, for the log.
impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&catalogue::format(Lang::En, self.key, &self.args))
    }
}

/// A request's words and times: its language, the site's display zone, and
/// the address it was made to (where the language switcher comes back to).
#[derive(Debug, Clone)]
pub struct Tr {
    lang: Lang,
    zone: Tz,
    here: String,
}

impl Tr {
    pub fn new(lang: Lang, zone: Tz) -> Self {
        Self {
            lang,
            zone,
            here: "/admin".to_owned(),
        }
    }

    /// The request's: the signed-in admin's language, else the browser's,
    /// else Chinese.
    pub fn of(req: &HttpRequest) -> Self {
        let stored = req
            .extensions()
            .get::<AdminIdentity>()
            .and_then(|a| a.locale.clone());
        let accept = req
            .headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        let zone = req
            .app_data::<web::Data<AppState>>()
            .map_or(display_time::DEFAULT_ZONE, |s| s.admin_policy.timezone);
        let here = req
            .uri()
            .path_and_query()
            .map_or("/admin", |p| p.as_str())
            .to_owned();
        Self {
            lang: choose(stored.as_deref(), accept),
            zone,
            here,
        }
    }

    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// For `<html lang>`.
    pub fn lang_tag(&self) -> &'static str {
        self.lang.tag()
    }

    /// The display zone's name, such as `Asia/Shanghai`.
    pub fn zone_name(&self) -> &'static str {
        self.zone.name()
    }

    /// Where the page was asked for: the language switcher brings the admin
    /// back here.
    pub fn here(&self) -> &str {
        &self.here
    }

    /// A message without arguments.
    pub fn get(&self, key: &str) -> String {
        catalogue::format(self.lang, key, &[])
    }

    /// A message with one argument.
    pub fn one(&self, key: &str, name: &'static str, value: impl ToArg) -> String {
        catalogue::format(self.lang, key, &[(name, value.to_arg())])
    }

    /// A message with two arguments.
    pub fn two(
        &self,
        key: &str,
        name: &'static str,
        value: impl ToArg,
        name2: &'static str,
        value2: impl ToArg,
    ) -> String {
        catalogue::format(
            self.lang,
            key,
            &[(name, value.to_arg()), (name2, value2.to_arg())],
        )
    }

    /// A message with markup (its key ends in `-html`), with one argument
    /// escaped, for a template to show as it is (`|safe`).
    pub fn html_one(&self, key: &str, name: &'static str, value: impl ToArg) -> String {
        let value = match value.to_arg() {
            Arg::Text(text) => Arg::Text(escape_html(&text)),
            other => other,
        };
        catalogue::format(self.lang, key, &[(name, value)])
    }

    /// A message said later.
    pub fn msg(&self, msg: &Msg) -> String {
        catalogue::format(self.lang, msg.key, &msg.args)
    }

    /// A stored (UTC) instant in the display zone, with its offset.
    pub fn time(&self, t: NaiveDateTime) -> String {
        display_time::format(t, self.zone)
    }

    /// A time that may be missing: empty then.
    pub fn time_or_blank(&self, t: Option<NaiveDateTime>) -> String {
        t.map(|t| self.time(t)).unwrap_or_default()
    }
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

impl FromRequest for Tr {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Self::of(req)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_ours_exactly() {
        assert_eq!(Lang::from_tag("zh-CN"), Some(Lang::ZhCn));
        assert_eq!(Lang::from_tag("zh-cn"), Some(Lang::ZhCn));
        assert_eq!(Lang::from_tag("en"), Some(Lang::En));
        for other in ["", "zh", "en-US", "fr", "zh-CN; DROP TABLE"] {
            assert_eq!(Lang::from_tag(other), None, "{other}");
        }
    }

    #[test]
    fn messages_take_arguments_and_times_their_zone() {
        let zh = Tr::new(Lang::ZhCn, display_time::DEFAULT_ZONE);
        let en = Tr::new(Lang::En, chrono_tz::UTC);
        assert_eq!(zh.get("nav-users"), "用户");
        assert_eq!(en.get("nav-users"), "Users");
        assert_eq!(en.one("user-title", "id", 7), "User 7");
        assert_eq!(zh.one("user-title", "id", 7), "用户 7");
        let t = NaiveDateTime::parse_from_str("2026-01-01 20:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(zh.time(t), "2026-01-02 04:00:00 (UTC+08:00)");
        assert_eq!(en.time(t), "2026-01-01 20:00:00 (UTC+00:00)");
        let target = en.html_one("webhooks-target-html", "target", "<x>");
        assert!(
            target.contains("&lt;x&gt;") && !target.contains("<x>"),
            "{target}"
        );
        let msg = Msg::one("err-delete-confirm", "id", 12);
        assert!(msg.to_string().contains("12"), "{msg}");
        assert!(zh.msg(&msg).contains("12"), "{}", zh.msg(&msg));
    }
}
