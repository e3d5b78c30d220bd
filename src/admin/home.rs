//! `GET /admin`: the overview.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::page::{render, Layout};
use super::view::count_text;
use super::{AdminError, AdminIdentity};
use crate::service::users;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "admin/home.html")]
struct HomePage {
    layout: Layout,
    users: String,
    new_today: String,
    new_week: String,
    active_sessions: String,
}

pub async fn overview(
    state: web::Data<AppState>,
    admin: web::ReqData<AdminIdentity>,
) -> Result<HttpResponse, AdminError> {
    let totals = users::overview(&state).await?;
    render(
        StatusCode::OK,
        &HomePage {
            layout: Layout::signed_in("Overview", &admin),
            users: count_text(totals.users),
            new_today: count_text(totals.new_today),
            new_week: count_text(totals.new_this_week),
            active_sessions: count_text(totals.active_sessions),
        },
    )
}
