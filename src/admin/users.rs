//! The home page, the user table, a user's page, CSV export and the audit log.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use bytes::Bytes;
use chrono::NaiveDateTime;
use serde::Deserialize;

use super::params::{TableParams, PER_PAGE_CHOICES};
use super::signin::CsrfForm;
use super::{check_csrf, render, see_other, AdminError, AdminIdentity, Layout};
use crate::db::admins::{self, AuditAction, AuditEntry, NewAuditEntry};
use crate::db::sessions::{self, Session};
use crate::db::user_list::{self, UserRow};
use crate::db::{self, users, DbConnection, DbError};
use crate::domain::user_query::{
    InvalidParam, Page, SortColumn, SortOrder, UserFilter, UserListArgs, UserQuery,
};
use crate::service::export;
use crate::state::AppState;
use crate::web::client_ip;

/// Up to this many matching rows are counted exactly; past it the page says "more than".
const COUNT_CAP: i64 = 10_000;
/// A nickname search counts exactly up to here.
const SEARCH_COUNT_CAP: i64 = 200;
/// The home page's totals are exact up to here.
const TOTAL_CAP: i64 = 100_000;
/// Sessions shown on a user's page.
const SESSIONS_SHOWN: i64 = 100;
const AUDIT_PER_PAGE: i64 = 50;

fn layout(title: &str, admin: &AdminIdentity) -> Layout {
    Layout {
        title: title.to_owned(),
        admin: Some(admin.clone()),
    }
}

/// 1234567 → "1,234,567".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn count_words(exact: Option<i64>, cap: i64) -> String {
    match exact {
        Some(n) => thousands(n),
        None => format!("more than {}", thousands(cap)),
    }
}

pub fn gender_label(g: i16) -> &'static str {
    match g {
        1 => "男",
        2 => "女",
        _ => "未知",
    }
}

fn time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[derive(Template)]
#[template(path = "admin/home.html")]
struct HomePage {
    layout: Layout,
    users: String,
    new_today: String,
    new_week: String,
    active_sessions: String,
}

/// `GET /admin`.
pub async fn home(
    state: web::Data<AppState>,
    admin: web::ReqData<AdminIdentity>,
) -> Result<HttpResponse, AdminError> {
    let (users, new_today, new_week, active) = db::run(&state.pool, |conn| {
        let now = crate::clock::now();
        let today = now.date();
        let since = |days: u64| UserFilter {
            created_from: today.checked_sub_days(chrono::Days::new(days)),
            ..UserFilter::default()
        };
        Ok((
            total_users(conn)?,
            count_words(
                user_list::count_up_to(conn, &since(0), TOTAL_CAP)?,
                TOTAL_CAP,
            ),
            count_words(
                user_list::count_up_to(conn, &since(6), TOTAL_CAP)?,
                TOTAL_CAP,
            ),
            count_words(
                sessions::count_active_up_to(conn, now, TOTAL_CAP)?,
                TOTAL_CAP,
            ),
        ))
    })
    .await?;
    let admin = admin.into_inner();
    render(
        StatusCode::OK,
        &HomePage {
            layout: layout("Overview", &admin),
            users,
            new_today,
            new_week,
            active_sessions: active,
        },
    )
}

/// All users: exact while the table is small, else an estimate.
fn total_users(conn: &mut DbConnection) -> Result<String, DbError> {
    let estimate = user_list::estimate_total(conn)?;
    if estimate <= COUNT_CAP {
        if let Some(n) = user_list::count_up_to(conn, &UserFilter::default(), COUNT_CAP)? {
            return Ok(thousands(n));
        }
    }
    Ok(format!("about {}", thousands(estimate)))
}

struct RowView {
    id: i64,
    openid: String,
    unionid: String,
    nickname: String,
    gender: &'static str,
    province: String,
    city: String,
    created_at: String,
    last_login_at: String,
    /// Masked: lists never show a whole phone number.
    phone: String,
}

impl From<UserRow> for RowView {
    fn from(r: UserRow) -> Self {
        Self {
            id: r.id,
            openid: r.openid,
            unionid: r.unionid.unwrap_or_default(),
            nickname: r.nickname,
            gender: gender_label(r.gender),
            province: r.province,
            city: r.city,
            created_at: time(r.created_at),
            last_login_at: time(r.last_login_at),
            phone: r
                .phone_number
                .as_deref()
                .map(crate::domain::profile::mask_phone)
                .unwrap_or_default(),
        }
    }
}

struct SortHeader {
    label: &'static str,
    url: String,
    /// "ascending", "descending" or "none", for `aria-sort`.
    aria: &'static str,
    arrow: &'static str,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    layout: Layout,
    form: UserListArgs,
    per_page: i64,
    per_page_choices: [i64; 4],
    provinces: Vec<String>,
    cities: Vec<String>,
    headers: Vec<SortHeader>,
    rows: Vec<RowView>,
    count: String,
    first_url: String,
    prev_url: Option<String>,
    next_url: Option<String>,
    csv_url: String,
    clear_url: String,
    error: Option<String>,
}

/// Builds `path?params` from the list parameters plus extra pairs.
fn url_with(path: &str, list: &UserListArgs, extra: &[(&str, String)]) -> String {
    let mut query = serde_urlencoded::to_string(list).expect("encoding strings");
    for (k, v) in extra {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&serde_urlencoded::to_string([(k, v)]).expect("encoding strings"));
    }
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

fn column_label(c: SortColumn) -> &'static str {
    match c {
        SortColumn::Openid => "openid",
        SortColumn::Unionid => "unionid",
        SortColumn::Nickname => "Nickname",
        SortColumn::Gender => "Gender",
        SortColumn::Province => "Province",
        SortColumn::City => "City",
        SortColumn::CreatedAt => "Created (UTC)",
        SortColumn::LastLoginAt => "Last login (UTC)",
    }
}

/// `GET /admin/users`.
pub async fn list(
    state: web::Data<AppState>,
    admin: web::ReqData<AdminIdentity>,
    params: web::Query<TableParams>,
) -> Result<HttpResponse, AdminError> {
    let params = params.into_inner();
    let admin = admin.into_inner();
    let parsed = (|| -> Result<_, InvalidParam> {
        let query = params.list.to_query()?;
        let per_page = params.per_page()?;
        let page = params.page(query.sort)?;
        Ok((query, per_page, page))
    })();
    let (error, query, per_page, page) = match parsed {
        Ok((q, n, p)) => (None, q, n, p),
        Err(e) => (
            Some(e.0),
            UserQuery::default(),
            super::params::DEFAULT_PER_PAGE,
            Page::First,
        ),
    };

    let province = query.filter.province.clone();
    let fetch = error.is_none();
    let q2 = query.clone();
    let p2 = page.clone();
    let (rows, more, count, provinces, cities) = db::run(&state.pool, move |conn| {
        let provinces = user_list::distinct_values(conn, SortColumn::Province, None)?;
        let cities = user_list::distinct_values(conn, SortColumn::City, province.as_deref())?;
        if !fetch {
            return Ok((Vec::new(), false, String::new(), provinces, cities));
        }
        let mut q2 = q2;
        user_list::plan_search(conn, &mut q2.filter)?;
        let (rows, more) = user_list::list(conn, &q2, &p2, per_page)?;
        let count = if q2.filter == UserFilter::default() {
            total_users(conn)?
        } else {
            // A nickname search reads rows one by one, so it counts less far.
            let cap = if q2.filter.q.is_some() && !q2.filter.ids_only {
                SEARCH_COUNT_CAP
            } else {
                COUNT_CAP
            };
            count_words(user_list::count_up_to(conn, &q2.filter, cap)?, cap)
        };
        Ok((rows, more, count, provinces, cities))
    })
    .await?;

    // Normalised parameters, so links carry only what is in force.
    let list = canonical_args(&params.list, &query);
    let per_page_pair = |extra: &mut Vec<(&str, String)>| {
        if per_page != super::params::DEFAULT_PER_PAGE {
            extra.push(("per_page", per_page.to_string()));
        }
    };
    let link = |cursor: Option<(&'static str, String)>| {
        let mut extra = Vec::new();
        per_page_pair(&mut extra);
        extra.extend(cursor);
        url_with("/admin/users", &list, &extra)
    };
    let key_of = |row: Option<&UserRow>| row.map(|r| r.encode_key(query.sort));
    // After a "before" page there is always a next page; after a first or
    // "after" page there is a previous one unless it is the first.
    let (prev_url, next_url) = match &page {
        Page::First => (
            None,
            more.then(|| key_of(rows.last()))
                .flatten()
                .map(|k| link(Some(("after", k)))),
        ),
        Page::After(_) => (
            key_of(rows.first()).map(|k| link(Some(("before", k)))),
            more.then(|| key_of(rows.last()))
                .flatten()
                .map(|k| link(Some(("after", k)))),
        ),
        Page::Before(_) => (
            more.then(|| key_of(rows.first()))
                .flatten()
                .map(|k| link(Some(("before", k)))),
            key_of(rows.last()).map(|k| link(Some(("after", k)))),
        ),
    };
    let headers = SortColumn::ALL
        .into_iter()
        .map(|c| {
            let active = c == query.sort;
            let order = if active {
                query.order.reverse()
            } else {
                SortOrder::Asc
            };
            let sorted = UserListArgs {
                sort: Some(c.name().to_owned()),
                order: Some(order.name().to_owned()),
                ..list.clone()
            };
            let mut extra = Vec::new();
            per_page_pair(&mut extra);
            SortHeader {
                label: column_label(c),
                url: url_with("/admin/users", &sorted, &extra),
                aria: match (active, query.order) {
                    (false, _) => "none",
                    (true, SortOrder::Asc) => "ascending",
                    (true, SortOrder::Desc) => "descending",
                },
                arrow: match (active, query.order) {
                    (false, _) => "",
                    (true, SortOrder::Asc) => " ▲",
                    (true, SortOrder::Desc) => " ▼",
                },
            }
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page_view = UsersPage {
        layout: layout("Users", &admin),
        form: params.list.clone(),
        per_page,
        per_page_choices: PER_PAGE_CHOICES,
        provinces,
        cities,
        headers,
        rows: rows.into_iter().map(RowView::from).collect(),
        count,
        first_url: link(None),
        prev_url,
        next_url,
        csv_url: url_with("/admin/users.csv", &list, &[]),
        clear_url: "/admin/users".into(),
        error,
    };
    render(status, &page_view)
}

/// The list parameters as they are in force (blank ones dropped).
fn canonical_args(raw: &UserListArgs, query: &UserQuery) -> UserListArgs {
    let f = &query.filter;
    UserListArgs {
        q: f.q.clone(),
        gender: f.gender.map(|g| g.to_string()),
        province: f.province.clone(),
        city: f.city.clone(),
        has_unionid: f
            .has_unionid
            .map(|b| if b { "yes" } else { "no" }.to_owned()),
        created_from: f.created_from.map(|d| d.to_string()),
        created_to: f.created_to.map(|d| d.to_string()),
        sort: raw.sort.as_ref().map(|_| query.sort.name().to_owned()),
        order: raw.order.as_ref().map(|_| query.order.name().to_owned()),
    }
}

impl UserRow {
    fn encode_key(&self, sort: SortColumn) -> String {
        self.sort_key(sort).encode(sort)
    }
}

/// `GET /admin/users.csv`: streams every row that the table's parameters select.
pub async fn csv(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: web::ReqData<AdminIdentity>,
    params: web::Query<TableParams>,
) -> Result<HttpResponse, AdminError> {
    let params = params.into_inner();
    let query = params
        .list
        .to_query()
        .map_err(|e| AdminError::BadRequest(e.0))?;
    let bom = params.bom().map_err(|e| AdminError::BadRequest(e.0))?;
    let filters = serde_urlencoded::to_string(canonical_args(&params.list, &query))
        .expect("encoding strings");
    let admin = admin.into_inner();
    let ip = client_ip(&req, state.trust_proxy);
    let pool = state.pool.clone();

    // A small channel: the database is read only as fast as the client takes the file.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    tokio::task::spawn_blocking(move || {
        let send = |chunk: Vec<u8>| tx.blocking_send(Ok(Bytes::from(chunk))).is_ok();
        if !send(export::head(bom)) {
            return;
        }
        let mut complete = true;
        let result = export::write_rows(&pool, &query, |chunk| {
            let sent = send(chunk);
            complete &= sent;
            sent
        })
        .and_then(|rows| {
            let detail =
                serde_json::json!({"filters": filters, "rows": rows, "complete": complete})
                    .to_string();
            admins::audit(
                &mut *pool.get()?,
                &NewAuditEntry {
                    admin_id: Some(admin.id),
                    username: &admin.username,
                    action: AuditAction::Export,
                    ip: ip.as_deref(),
                    detail: &detail,
                    now: crate::clock::now(),
                },
            )
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "CSV export failed");
            // Ends the body with an error, so the download is visibly incomplete.
            let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let filename = format!("users-{}.csv", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(body))
}

struct SessionView {
    id: i64,
    created_at: String,
    last_seen_at: String,
    expires_at: String,
    client_ip: String,
    user_agent: String,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPage {
    layout: Layout,
    csrf: String,
    user: users::User,
    gender: &'static str,
    created_at: String,
    updated_at: String,
    last_login_at: String,
    sessions: Vec<SessionView>,
    session_count: i64,
    any_active: bool,
    /// Whether the avatar URL is shown as a link (only http and https are).
    avatar_is_link: bool,
}

fn user_id(raw: &str) -> Result<i64, AdminError> {
    raw.parse().map_err(|_| AdminError::NotFound)
}

/// `GET /admin/users/{id}`.
pub async fn detail(
    state: web::Data<AppState>,
    admin: web::ReqData<AdminIdentity>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let id = user_id(&path)?;
    let (user, list, count) = db::run(&state.pool, move |conn| {
        let user = users::find(conn, id)?;
        let list = sessions::list_for_user(conn, id, SESSIONS_SHOWN)?;
        let count = sessions::count_for_user(conn, id)?;
        Ok((user, list, count))
    })
    .await?;
    let now = crate::clock::now();
    let sessions: Vec<SessionView> = list
        .into_iter()
        .map(|s: Session| SessionView {
            id: s.id,
            created_at: time(s.created_at),
            last_seen_at: time(s.last_seen_at),
            expires_at: time(s.expires_at),
            client_ip: s.client_ip.unwrap_or_default(),
            user_agent: s.user_agent.unwrap_or_default(),
            status: if s.revoked_at.is_some() {
                "revoked"
            } else if s.expires_at <= now {
                "expired"
            } else {
                "active"
            },
        })
        .collect();
    let admin = admin.into_inner();
    render(
        StatusCode::OK,
        &UserPage {
            csrf: admin.csrf.clone(),
            layout: layout(&format!("User {id}"), &admin),
            gender: gender_label(user.gender),
            created_at: time(user.created_at),
            updated_at: time(user.updated_at),
            last_login_at: time(user.last_login_at),
            any_active: sessions.iter().any(|s| s.status == "active"),
            avatar_is_link: is_web_link(&user.avatar_url),
            sessions,
            session_count: count,
            user,
        },
    )
}

/// Whether a stored URL may be shown as a link: only http(s). Anything else
/// is shown as text, whatever made its way into the database.
fn is_web_link(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

fn audit_entry<'a>(
    admin: &'a AdminIdentity,
    ip: Option<&'a str>,
    action: AuditAction,
    detail: &'a str,
) -> NewAuditEntry<'a> {
    NewAuditEntry {
        admin_id: Some(admin.id),
        username: &admin.username,
        action,
        ip,
        detail,
        now: crate::clock::now(),
    }
}

/// `POST /admin/users/{id}/sessions/{session_id}/revoke`.
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: web::ReqData<AdminIdentity>,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AdminError> {
    check_csrf(&admin, &form.csrf)?;
    let (id, session_id) = path.into_inner();
    let (id, session_id) = (user_id(&id)?, user_id(&session_id)?);
    let admin = admin.into_inner();
    let ip = client_ip(&req, state.trust_proxy);
    let revoked = db::run(&state.pool, move |conn| {
        if sessions::revoke(conn, id, session_id, crate::clock::now())? {
            let detail = serde_json::json!({"user_id": id, "session_id": session_id}).to_string();
            admins::audit(
                conn,
                &audit_entry(&admin, ip.as_deref(), AuditAction::RevokeSession, &detail),
            )?;
        }
        Ok(())
    })
    .await;
    state.token_cache.forget_session(session_id);
    revoked?;
    Ok(see_other(&format!("/admin/users/{id}")))
}

/// `POST /admin/users/{id}/sessions/revoke-all`.
pub async fn revoke_all(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: web::ReqData<AdminIdentity>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AdminError> {
    check_csrf(&admin, &form.csrf)?;
    let id = user_id(&path)?;
    let admin = admin.into_inner();
    let ip = client_ip(&req, state.trust_proxy);
    let revoked = db::run(&state.pool, move |conn| {
        users::find(conn, id)?;
        let n = sessions::revoke_all(conn, id, crate::clock::now())?;
        let detail = serde_json::json!({"user_id": id, "sessions": n}).to_string();
        admins::audit(
            conn,
            &audit_entry(
                &admin,
                ip.as_deref(),
                AuditAction::RevokeAllSessions,
                &detail,
            ),
        )
    })
    .await;
    state.token_cache.forget_sessions_of(id);
    revoked?;
    Ok(see_other(&format!("/admin/users/{id}")))
}

struct AuditView {
    created_at: String,
    username: String,
    action: String,
    ip: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: Layout,
    entries: Vec<AuditView>,
    next_url: Option<String>,
    is_first: bool,
}

#[derive(Deserialize)]
pub struct AuditParams {
    before: Option<String>,
}

/// `GET /admin/audit`: newest first.
pub async fn audit(
    state: web::Data<AppState>,
    admin: web::ReqData<AdminIdentity>,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, AdminError> {
    let before = match params.before.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| AdminError::BadRequest("before must be an entry number".into()))?,
        ),
    };
    let mut entries: Vec<AuditEntry> = db::run(&state.pool, move |conn| {
        admins::audit_page(conn, before, AUDIT_PER_PAGE + 1)
    })
    .await?;
    let more = entries.len() as i64 > AUDIT_PER_PAGE;
    entries.truncate(AUDIT_PER_PAGE as usize);
    let next_url = more
        .then(|| {
            entries
                .last()
                .map(|e| format!("/admin/audit?before={}", e.id))
        })
        .flatten();
    let admin = admin.into_inner();
    render(
        StatusCode::OK,
        &AuditPage {
            layout: layout("Audit log", &admin),
            entries: entries
                .into_iter()
                .map(|e| AuditView {
                    created_at: time(e.created_at),
                    username: e.username,
                    action: e.action,
                    ip: e.ip.unwrap_or_default(),
                    detail: e.detail,
                })
                .collect(),
            next_url,
            is_first: before.is_none(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(count_words(None, 10_000), "more than 10,000");
    }
}
