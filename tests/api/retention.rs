//! Old audit entries, old sessions and spent sign-in counters are pruned in
//! the background, in batches; everything else is kept.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use wxlogin::db::schema::{audit_log, sessions, sign_in_throttle};
use wxlogin::on_backend;

use crate::backend_tests;
use crate::common::*;

backend_tests!(old_rows_are_pruned_in_batches);

fn days_ago(days: i64) -> NaiveDateTime {
    chrono::Utc::now().naive_utc() - chrono::Duration::days(days)
}

async fn old_rows_are_pruned_in_batches(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.audit_retention = Some(Duration::from_secs(365 * 86_400));
        s.session_retention = Some(Duration::from_secs(30 * 86_400));
        s.prune_every = Duration::from_millis(200);
    })
    .await;
    app.wechat_answers(code2session_ok("oPRUNE", "k", None))
        .await;
    app.login_ok("c").await;
    let user_id = app
        .with_db(|c| {
            use wxlogin::db::schema::identities;
            on_backend!(c, |c| identities::table
                .select(identities::id)
                .first::<i64>(c))
            .unwrap()
        })
        .await;
    app.with_db(move |c| {
        // 2,500 audit entries older than a year (more than one batch), and
        // ten from last month.
        let rows: Vec<_> = (0..2_510)
            .map(|i| {
                let at = if i < 2_500 {
                    days_ago(400)
                } else {
                    days_ago(30)
                };
                (
                    audit_log::created_at.eq(at),
                    audit_log::username.eq(format!("n{i}")),
                    audit_log::action.eq("sign_in_failed"),
                    audit_log::detail.eq(""),
                )
            })
            .collect();
        for chunk in rows.chunks(500) {
            on_backend!(c, |c| diesel::insert_into(audit_log::table)
                .values(chunk)
                .execute(c))
            .unwrap();
        }
        // Expired 40 days ago, revoked 40 days ago, expired yesterday, live.
        let sessions: Vec<_> = [
            (days_ago(50), days_ago(40), None),
            (days_ago(50), days_ago(-10), Some(days_ago(40))),
            (days_ago(2), days_ago(1), None),
            (days_ago(1), days_ago(-1), None),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, (created, expires, revoked))| {
            (
                sessions::account_id.eq(user_id),
                sessions::identity_id.eq(user_id),
                sessions::token_hash.eq(vec![i as u8; 32]),
                sessions::created_at.eq(created),
                sessions::expires_at.eq(expires),
                sessions::last_seen_at.eq(created),
                sessions::revoked_at.eq(revoked),
            )
        })
        .collect();
        on_backend!(c, |c| diesel::insert_into(sessions::table)
            .values(&sessions)
            .execute(c))
        .unwrap();
        on_backend!(c, |c| diesel::insert_into(sign_in_throttle::table)
            .values((
                sign_in_throttle::kind.eq("ip"),
                sign_in_throttle::subject.eq("127.0.0.9"),
                sign_in_throttle::window_start.eq(days_ago(1)),
                sign_in_throttle::attempts.eq(3i64),
            ))
            .execute(c))
        .unwrap();
    })
    .await;

    let counts = || async {
        app.with_db(|c| {
            on_backend!(c, |c| (
                audit_log::table.count().get_result::<i64>(c).unwrap(),
                sessions::table.count().get_result::<i64>(c).unwrap(),
                sign_in_throttle::table
                    .count()
                    .get_result::<i64>(c)
                    .unwrap(),
            ))
        })
        .await
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (audit, sessions, counters) = counts().await;
        if audit == 10 && sessions == 3 && counters == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not pruned: {audit} audit entries, {sessions} sessions, {counters} counters"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The login's own session is among the three kept, and still works.
    let (token, _) = app.login_ok("c2").await;
    assert_eq!(app.get_me(&token).await.status(), 200);
}
