//! `GET /admin`: the overview.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::i18n::Tr;
use super::overview_charts::ChartsView;
use super::page::{render, Layout};
use super::view::count_text;
use super::{AdminError, AdminIdentity};
use crate::service::{content, overview_charts, users};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "admin/home.html")]
struct HomePage {
    t: Tr,
    layout: Layout,
    users: String,
    new_today: String,
    new_week: String,
    active_sessions: String,
    phone_exchanges: Vec<PhoneLine>,
    /// Nicknames and avatars waiting for an operator.
    in_review: String,
    charts: ChartsView,
}

/// The review queue is counted up to here on the overview.
const REVIEW_COUNT_CAP: i64 = 1_000;

/// One app's line of the phone ledger.
struct PhoneLine {
    appid: String,
    app_name: String,
    today: String,
    last_7_days: String,
    last_30_days: String,
    /// At the price of a quick verification.
    cost_30_days: String,
}

/// WeChat's price of one successful quick phone verification, in fen.
const FEN_PER_EXCHANGE: i64 = 3;

fn yuan(fen: i64) -> String {
    format!("¥{}.{:02}", fen / 100, fen % 100)
}

pub async fn overview(
    state: web::Data<AppState>,
    t: Tr,
    admin: web::ReqData<AdminIdentity>,
) -> Result<HttpResponse, AdminError> {
    let totals = users::overview(&state).await?;
    let charts = overview_charts::charts(&state, state.admin_policy.timezone).await?;
    let in_review = content::review_count(&state, REVIEW_COUNT_CAP + 1).await?;
    let in_review = if in_review > REVIEW_COUNT_CAP {
        format!("{REVIEW_COUNT_CAP}+")
    } else {
        in_review.to_string()
    };
    render(
        StatusCode::OK,
        &HomePage {
            layout: Layout::signed_in(&t, t.get("home-title"), &admin),
            users: count_text(&t, totals.users),
            new_today: count_text(&t, totals.new_today),
            new_week: count_text(&t, totals.new_this_week),
            active_sessions: count_text(&t, totals.active_sessions),
            in_review,
            charts: ChartsView::new(&t, &charts),
            phone_exchanges: totals
                .phone_exchanges
                .into_iter()
                .map(|p| PhoneLine {
                    today: p.today.to_string(),
                    last_7_days: p.last_7_days.to_string(),
                    last_30_days: p.last_30_days.to_string(),
                    cost_30_days: yuan(p.last_30_days * FEN_PER_EXCHANGE),
                    appid: p.appid,
                    app_name: p.app_name,
                })
                .collect(),
            t,
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn costs_are_shown_in_yuan() {
        assert_eq!(super::yuan(0), "¥0.00");
        assert_eq!(super::yuan(3), "¥0.03");
        assert_eq!(super::yuan(3_000), "¥30.00");
        assert_eq!(super::yuan(123_456), "¥1234.56");
    }
}
