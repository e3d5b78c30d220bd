//! `GET /admin/users`: the user table.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::i18n::Tr;
use super::messages::invalid_param;
use super::page::{render, Layout};
use super::params::{TableParams, DEFAULT_PER_PAGE, PER_PAGE_CHOICES};
use super::view::{
    canonical_args, count_number, count_text, pager_cursors, sort_headers, url_with, RowView,
    SortHeader,
};
use super::words::gender_key;
use super::{AdminError, AdminIdentity};
use crate::domain::user_query::{InvalidParam, UserListArgs, UserQuery};
use crate::service::users::{self, Places};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    t: Tr,
    layout: Layout,
    form: UserListArgs,
    per_page: i64,
    per_page_choices: [i64; 4],
    /// The gender filter's choices: (value, label).
    gender_choices: Vec<(String, String)>,
    /// The risk filter's choices: (value, label).
    risk_choices: Vec<(String, String)>,
    provinces: Vec<String>,
    cities: Vec<String>,
    /// The configured apps, (appid, name), for the app filter.
    apps: Vec<(String, String)>,
    headers: Vec<SortHeader>,
    rows: Vec<RowView>,
    /// "2 users", or empty when nothing was counted.
    count: String,
    first_url: String,
    prev_url: Option<String>,
    next_url: Option<String>,
    csv_url: String,
    clear_url: String,
    error: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    t: Tr,
    admin: web::ReqData<AdminIdentity>,
    params: web::Query<TableParams>,
) -> Result<HttpResponse, AdminError> {
    let params = params.into_inner();
    let parsed = (|| -> Result<_, InvalidParam> {
        let query = params.list.to_query(state.admin_policy.timezone)?;
        let per_page = params.per_page()?;
        let page = params.page(query.sort)?;
        Ok((query, per_page, page))
    })();
    let (query, per_page, page) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            // The form comes back with the message and no rows.
            let places = users::places_only(&state, None).await?;
            let view = UsersPage {
                error: Some(t.msg(&invalid_param(e))),
                ..empty_page(t, &admin, &params, places, users::app_choices(&state))
            };
            return render(StatusCode::BAD_REQUEST, &view);
        }
    };
    let found = users::list(&state, query.clone(), page.clone(), per_page).await?;

    // Links carry only the parameters in force.
    let list = canonical_args(&params.list, &query);
    let per_page_pair: Vec<(&str, String)> = if per_page == DEFAULT_PER_PAGE {
        Vec::new()
    } else {
        vec![("per_page", per_page.to_string())]
    };
    let link = |cursor: Option<(&'static str, String)>| {
        let mut extra = per_page_pair.clone();
        extra.extend(cursor);
        url_with("/admin/users", &list, &extra)
    };
    let key_of = |row: Option<&crate::db::user_list::UserRow>| {
        row.map(|r| r.sort_key(query.sort).encode(query.sort))
    };
    let (before, after) = pager_cursors(
        &page,
        key_of(found.rows.first()),
        key_of(found.rows.last()),
        found.more,
    );
    let view = UsersPage {
        layout: Layout::signed_in(&t, t.get("users-title"), &admin),
        form: params.list.clone(),
        per_page,
        per_page_choices: PER_PAGE_CHOICES,
        gender_choices: gender_choices(&t),
        risk_choices: risk_choices(&t),
        provinces: found.places.provinces,
        cities: found.places.cities,
        apps: users::app_choices(&state),
        headers: sort_headers(&t, &query, &list, &per_page_pair),
        rows: found
            .rows
            .into_iter()
            .map(|r| RowView::new(&t, r, |appid| users::app_name(&state, appid)))
            .collect(),
        count: t.two(
            "users-count",
            "n",
            count_number(found.count),
            "count",
            count_text(&t, found.count),
        ),
        first_url: link(None),
        prev_url: before.map(|k| link(Some(("before", k)))),
        next_url: after.map(|k| link(Some(("after", k)))),
        csv_url: url_with("/admin/users.csv", &list, &[]),
        clear_url: "/admin/users".into(),
        error: None,
        t,
    };
    render(StatusCode::OK, &view)
}

/// The gender filter's choices, by the values WeChat gives.
fn gender_choices(t: &Tr) -> Vec<(String, String)> {
    (0..=2)
        .map(|g| (g.to_string(), t.get(gender_key(g))))
        .collect()
}

/// The risk filter's choices: at least each rank, from WeChat's scale of 0
/// (lowest risk) to 4.
fn risk_choices(t: &Tr) -> Vec<(String, String)> {
    vec![
        ("0".into(), t.get("risk-any-rank")),
        ("1".into(), t.get("risk-1-up")),
        ("2".into(), t.get("risk-2-up")),
        ("3".into(), t.get("risk-3-up")),
        ("4".into(), t.get("risk-4")),
    ]
}

/// The page with its form, the default sort's headers and no rows.
fn empty_page(
    t: Tr,
    admin: &AdminIdentity,
    params: &TableParams,
    places: Places,
    apps: Vec<(String, String)>,
) -> UsersPage {
    let query = UserQuery::default();
    let list = canonical_args(&params.list, &query);
    UsersPage {
        layout: Layout::signed_in(&t, t.get("users-title"), admin),
        form: params.list.clone(),
        per_page: DEFAULT_PER_PAGE,
        per_page_choices: PER_PAGE_CHOICES,
        gender_choices: gender_choices(&t),
        risk_choices: risk_choices(&t),
        provinces: places.provinces,
        cities: places.cities,
        apps,
        headers: sort_headers(&t, &query, &list, &[]),
        rows: Vec::new(),
        count: String::new(),
        first_url: url_with("/admin/users", &list, &[]),
        prev_url: None,
        next_url: None,
        csv_url: url_with("/admin/users.csv", &list, &[]),
        clear_url: "/admin/users".into(),
        error: None,
        t,
    }
}
