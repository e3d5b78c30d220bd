//! Rendering a page, redirects, and the frame every page shares.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use askama::Template;

use super::{AdminError, AdminIdentity};

/// What every page's frame shows.
pub struct Layout {
    pub title: String,
    pub admin: Option<AdminIdentity>,
}

impl Layout {
    /// The frame of a signed-in admin's page.
    pub fn signed_in(title: &str, admin: &AdminIdentity) -> Self {
        Self {
            title: title.to_owned(),
            admin: Some(admin.clone()),
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
