//! Rendering a page, redirects, and the frame every page shares.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use askama::Template;

use super::i18n::{Lang, Tr};
use super::words::role_key;
use super::{AdminError, AdminIdentity};

/// What every page's frame shows. Its words come from the page's `t`, a
/// field of every page beside its layout.
pub struct Layout {
    pub title: String,
    pub admin: Option<AdminIdentity>,
    /// The admin's role, in words.
    pub role: String,
    /// The language switcher's choices: (tag, name in itself, current).
    pub languages: Vec<(&'static str, &'static str, bool)>,
}

impl Layout {
    /// The frame of a signed-in admin's page.
    pub fn signed_in(t: &Tr, title: String, admin: &AdminIdentity) -> Self {
        Self {
            title,
            admin: Some(admin.clone()),
            role: t.get(role_key(admin.role)),
            languages: Lang::ALL
                .into_iter()
                .map(|l| (l.tag(), l.own_name(), l == t.lang()))
                .collect(),
        }
    }

    /// The frame of a page before sign-in: no navigation, no switcher.
    pub fn anonymous(title: String) -> Self {
        Self {
            title,
            admin: None,
            role: String::new(),
            languages: Vec::new(),
        }
    }
}

/// Renders a page.
pub fn render(status: StatusCode, page: &impl Template) -> Result<HttpResponse, AdminError> {
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// The post-sign-in redirect target: `next` normalised (dot segments
/// resolved, backslashes read as slashes, as a browser would), kept only
/// when it stays on this site under `/admin`; otherwise `/admin`.
pub fn safe_next(next: Option<&str>) -> String {
    const BASE: &str = "http://admin.invalid/";
    let fallback = || "/admin".to_owned();
    let Some(next) = next.filter(|n| n.len() <= 2048 && !n.chars().any(char::is_control)) else {
        return fallback();
    };
    if !next.starts_with('/') {
        return fallback();
    }
    let base = reqwest::Url::parse(BASE).expect("a valid base");
    let Ok(url) = base.join(next) else {
        return fallback();
    };
    let path = url.path();
    let same_site = url.origin() == base.origin() && url.username().is_empty();
    let under_admin = path == "/admin" || path.starts_with("/admin/");
    if !same_site || !under_admin || path.contains("//") {
        return fallback();
    }
    match url.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_stay_on_the_admin_site() {
        assert_eq!(safe_next(Some("/admin/users?q=x")), "/admin/users?q=x");
        assert_eq!(safe_next(Some("/admin")), "/admin");
        assert_eq!(safe_next(Some("/admin/./users/../audit")), "/admin/audit");
        assert_eq!(safe_next(Some("/admin?x=1")), "/admin?x=1");
        // Read as a browser reads it: a backslash is a slash.
        assert_eq!(safe_next(Some("/admin\\x")), "/admin/x");
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/admin//evil",
            "/administrator",
            "/api/me",
            "/admin/../api/me",
            "/admin/%2e%2e/api/me",
            "/admin\\..\\api/me",
            "/\\evil.example/admin",
            "admin/users",
            "http://admin.invalid/admin",
        ] {
            assert_eq!(safe_next(Some(bad)), "/admin", "{bad}");
        }
        assert_eq!(safe_next(None), "/admin");
    }
}
