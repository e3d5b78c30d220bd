//! The admin sign-in throttle: per username and address, per address,
//! never a lock-out from elsewhere, and exact under concurrency.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use wxlogin::db::schema::audit_log;
use wxlogin::on_backend;
use wxlogin::service::admin_sign_in::{IP_LIMIT, MAX_DELAY, USER_ALERT_AFTER, USER_IP_LIMIT};

use crate::backend_tests;
use crate::common::*;

backend_tests!(
    guesses_from_elsewhere_never_lock_an_admin_out,
    one_address_is_throttled_across_usernames,
    concurrent_guesses_get_exactly_the_limit,
    throttled_attempts_are_audited_once_per_window,
    sign_in_targets_are_normalised,
);

async fn sign_in_targets_are_normalised(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_admin().await;
    for (next, expected) in [
        ("/admin/./users/../audit", "/admin/audit"),
        ("/admin/../api/me", "/admin"),
        ("/admin/%2e%2e/api/me", "/admin"),
        ("/admin\\..\\..\\api", "/admin"),
        ("//evil.example/admin", "/admin"),
    ] {
        let browser = AdminClient::new(&app);
        let csrf = browser.login_csrf().await;
        let r = browser
            .post_form(
                "/admin/login",
                &[
                    ("csrf", csrf.as_str()),
                    ("username", ADMIN),
                    ("password", ADMIN_PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], expected, "{next}");
    }
}

impl TestApp {
    /// How many audit entries have this action.
    async fn audit_count(&self, action: &'static str) -> i64 {
        self.with_db(move |c| {
            on_backend!(c, |c| audit_log::table
                .filter(audit_log::action.eq(action))
                .count()
                .get_result::<i64>(c))
            .unwrap()
        })
        .await
    }
}

/// The value of a counter on `/metrics` (0 when absent).
async fn metric(app: &TestApp, name: &str) -> f64 {
    let url = app.metrics_url.as_ref().expect("metrics are on");
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

async fn guesses_from_elsewhere_never_lock_an_admin_out(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.metrics_bind = Some("127.0.0.1:0".parse().unwrap())
    })
    .await;
    // The recorder is the process's: other tests count too.
    let alerts_before = metric(&app, "wxlogin_admin_sign_in_alerts_total").await;
    app.create_admin().await;
    // Five wrong passwords from one address throttle that address...
    let attacker = AdminClient::from_ip(&app, "127.0.0.2");
    for _ in 0..USER_IP_LIMIT {
        let r = attacker.sign_in_with(ADMIN, "wrong password!!").await;
        assert_eq!(r.status(), 401);
    }
    let r = attacker.sign_in_with(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // ...but the right password from an address with no failures signs in.
    let admin = AdminClient::from_ip(&app, "127.0.0.3");
    assert_eq!(
        admin.sign_in_with(ADMIN, ADMIN_PASSWORD).await.status(),
        303
    );

    // Guesses from many addresses raise an alert, and slow down the name,
    // but never block it.
    for i in 0..(USER_ALERT_AFTER - USER_IP_LIMIT) {
        let from = AdminClient::from_ip(&app, &format!("127.0.1.{}", i + 1));
        assert_eq!(
            from.sign_in_with(ADMIN, "wrong password!!").await.status(),
            401
        );
    }
    assert_eq!(app.audit_count("sign_in_alert").await, 1);
    assert!(metric(&app, "wxlogin_admin_sign_in_alerts_total").await >= alerts_before + 1.0);
    // Metrics are never on the public listener.
    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404);
    let admin = AdminClient::from_ip(&app, "127.0.2.1");
    let started = Instant::now();
    assert_eq!(
        admin.sign_in_with(ADMIN, ADMIN_PASSWORD).await.status(),
        303
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "a name under attack is delayed ({took:?})"
    );
    assert!(took < MAX_DELAY + Duration::from_secs(3), "{took:?}");
    // The alert is raised once per window.
    let from = AdminClient::from_ip(&app, "127.0.3.1");
    from.sign_in_with(ADMIN, "wrong password!!").await;
    assert_eq!(app.audit_count("sign_in_alert").await, 1);
}

async fn one_address_is_throttled_across_usernames(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_admin().await;
    let sprayer = AdminClient::from_ip(&app, "127.0.0.4");
    for i in 0..IP_LIMIT {
        let r = sprayer
            .sign_in_with(&format!("name{i}"), "wrong password!!")
            .await;
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    let r = sprayer.sign_in_with(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 429);
    // Other addresses are not affected.
    let other = AdminClient::from_ip(&app, "127.0.0.5");
    assert_eq!(
        other.sign_in_with(ADMIN, ADMIN_PASSWORD).await.status(),
        303
    );
}

async fn concurrent_guesses_get_exactly_the_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_admin().await;
    for (round, guesses) in [50usize, 200].into_iter().enumerate() {
        let ip = format!("127.0.4.{}", round + 1);
        let clients: Vec<AdminClient> = (0..guesses)
            .map(|_| AdminClient::from_ip(&app, &ip))
            .collect();
        let mut csrfs = Vec::new();
        for c in &clients {
            csrfs.push(c.login_csrf().await);
        }
        let failed_before = app.audit_count("sign_in_failed").await;
        let attempts = clients.iter().zip(&csrfs).map(|(c, csrf)| async move {
            c.post_form(
                "/admin/login",
                &[
                    ("csrf", csrf.as_str()),
                    ("username", ADMIN),
                    ("password", "wrong password!!"),
                    ("next", "/admin"),
                ],
            )
            .await
        });
        let statuses: Vec<u16> = futures::future::join_all(attempts)
            .await
            .into_iter()
            .map(|r| r.status().as_u16())
            .collect();
        let checked = app.audit_count("sign_in_failed").await - failed_before;
        let wrong = statuses.iter().filter(|s| **s == 401).count() as i64;
        assert_eq!(wrong, checked);
        assert!(
            statuses.iter().all(|s| [401, 429, 503].contains(s)),
            "{statuses:?}"
        );
        // Refusals for lack of room are retried until every guess was
        // either checked or throttled.
        let mut refused_busy = statuses.iter().filter(|s| **s == 503).count();
        let retry = AdminClient::from_ip(&app, &ip);
        while refused_busy > 0 {
            let status = retry.sign_in_with(ADMIN, "wrong password!!").await.status();
            if status != 503 {
                refused_busy -= 1;
            }
        }
        let checked = app.audit_count("sign_in_failed").await - failed_before;
        assert_eq!(
            checked, USER_IP_LIMIT,
            "{guesses} concurrent guesses: exactly the limit is checked"
        );
    }
}

async fn throttled_attempts_are_audited_once_per_window(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_admin().await;
    let attacker = AdminClient::from_ip(&app, "127.0.0.6");
    for _ in 0..(USER_IP_LIMIT + 100) {
        attacker.sign_in_with(ADMIN, "wrong password!!").await;
    }
    assert_eq!(app.audit_count("sign_in_failed").await, USER_IP_LIMIT);
    assert_eq!(app.audit_count("sign_in_throttled").await, 1);
}
