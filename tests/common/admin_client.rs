//! A browser-like client for the admin site.

use super::{hidden_field, TestApp, ADMIN, ADMIN_PASSWORD};

/// A browser-like client for the admin site: keeps cookies, does not follow redirects.
pub struct AdminClient {
    pub client: reqwest::Client,
    pub base: String,
    /// Its cookies, to copy as a thief would.
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
}

/// What the test clients send as `Accept-Language` unless told otherwise:
/// English, which the assertions of most tests are written in.
pub const ENGLISH: &str = "en";

impl AdminClient {
    /// A client from 127.0.0.1 whose browser asks for English.
    pub fn new(app: &TestApp) -> Self {
        Self::from_ip(app, "127.0.0.1")
    }

    /// A client whose browser sends `accept_language`, or no
    /// `Accept-Language` at all (`None`), as a Chinese browser may not.
    pub fn with_language(app: &TestApp, accept_language: Option<&str>) -> Self {
        Self::build(&app.address, None, accept_language)
    }

    /// A client of the server at `base` (`http://127.0.0.1:PORT`).
    pub fn at(base: &str) -> Self {
        Self::build(base, None, Some(ENGLISH))
    }

    /// A client whose connections come from `ip`, one of the loopback
    /// addresses 127.0.0.0/8, as if from another machine.
    pub fn from_ip(app: &TestApp, ip: &str) -> Self {
        Self::build(&app.address, Some(ip), Some(ENGLISH))
    }

    fn build(base: &str, ip: Option<&str>, accept_language: Option<&str>) -> Self {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(lang) = accept_language {
            headers.insert(
                reqwest::header::ACCEPT_LANGUAGE,
                reqwest::header::HeaderValue::from_str(lang).unwrap(),
            );
        }
        let mut builder = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers);
        if let Some(ip) = ip {
            builder = builder.local_address(ip.parse::<std::net::IpAddr>().unwrap());
        }
        Self {
            jar,
            client: builder.build().unwrap(),
            base: base.to_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The sign-in form's CSRF token (this also starts the cookie session).
    pub async fn login_csrf(&self) -> String {
        let html = self.get("/admin/login").await.text().await.unwrap();
        hidden_field(&html, "csrf").expect("csrf field on the sign-in page")
    }

    pub async fn sign_in_with(&self, username: &str, password: &str) -> reqwest::Response {
        let csrf = self.login_csrf().await;
        self.post_form(
            "/admin/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
                ("next", "/admin"),
            ],
        )
        .await
    }

    /// Signs in as the test admin, asserting success.
    pub async fn sign_in(&self) {
        let response = self.sign_in_with(ADMIN, ADMIN_PASSWORD).await;
        assert_eq!(response.status(), 303, "sign-in should redirect");
    }

    /// The CSRF token of the signed-in session, read from a page's sign-out form.
    pub async fn csrf(&self) -> String {
        // The account page: every signed-in admin may see it, even one
        // that must still set up a second factor.
        let html = self.get("/admin/account").await.text().await.unwrap();
        hidden_field(&html, "csrf").expect("csrf field in the page")
    }

    /// GET that must answer 200; returns the body.
    pub async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.text().await.unwrap()
    }

    /// Revokes one session of a user through the user's page, as an admin
    /// would; returns the answer.
    pub async fn revoke_session(&self, user_id: i64, session_id: i64) -> reqwest::Response {
        let csrf = self.csrf().await;
        self.post_form(
            &format!("/admin/users/{user_id}/sessions/{session_id}/revoke"),
            &[("csrf", &csrf)],
        )
        .await
    }
}
