//! The admin's corrections of linked accounts: the merge preview, the
//! merge, and the unlinking of an identity. Every form carries the CSRF
//! token, and every change is audited by the service.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::csrf;
use super::i18n::{Msg, Tr};
use super::page::{render, see_other, Layout};
use super::user::{actor, parse_id};
use super::words::{field_key, gender_key};
use super::{AdminError, AdminIdentity};
use crate::db::accounts::Account;
use crate::service::{accounts, users};
use crate::state::AppState;

/// One field of the preview: the kept account's value, the other's, and
/// what the kept one will hold.
struct FieldView {
    name: String,
    kept: String,
    other: String,
    result: String,
    filled: bool,
}

struct MovingIdentity {
    app: String,
    openid: String,
}

#[derive(Template)]
#[template(path = "admin/merge.html")]
struct MergePage {
    t: Tr,
    layout: Layout,
    csrf: String,
    /// The account whose page the merge was asked from.
    from: i64,
    kept: i64,
    removed: i64,
    fields: Vec<FieldView>,
    moving: Vec<MovingIdentity>,
    sessions_moving: i64,
}

#[derive(Deserialize)]
pub struct MergeQuery {
    #[serde(default)]
    with: String,
}

#[derive(Deserialize)]
pub struct MergeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    with: String,
}

/// The other account's id, as typed into the form.
fn other_id(raw: &str) -> Result<i64, AdminError> {
    raw.trim()
        .parse()
        .map_err(|_| AdminError::BadRequest(Msg::new("err-merge-other-id")))
}

fn fields(
    t: &Tr,
    kept: &Account,
    other: &Account,
    filled: &[&'static str],
    see_phone: bool,
) -> Vec<FieldView> {
    let phone = |a: &Account| match &a.phone_number {
        Some(p) if see_phone => p.clone(),
        Some(p) => crate::domain::profile::mask_phone(p),
        None => String::new(),
    };
    let rows: [(&'static str, String, String); 9] = [
        (
            "unionid",
            kept.unionid.clone().unwrap_or_default(),
            other.unionid.clone().unwrap_or_default(),
        ),
        ("nickname", kept.nickname.clone(), other.nickname.clone()),
        (
            "avatar_url",
            kept.avatar_url.clone(),
            other.avatar_url.clone(),
        ),
        (
            "gender",
            t.get(gender_key(kept.gender)),
            t.get(gender_key(other.gender)),
        ),
        ("country", kept.country.clone(), other.country.clone()),
        ("province", kept.province.clone(), other.province.clone()),
        ("city", kept.city.clone(), other.city.clone()),
        ("language", kept.language.clone(), other.language.clone()),
        ("phone_number", phone(kept), phone(other)),
    ];
    let mut views: Vec<FieldView> = rows
        .into_iter()
        .map(|(name, kept, other)| {
            let filled = filled.contains(&name);
            FieldView {
                name: t.get(field_key(name)),
                result: if filled { other.clone() } else { kept.clone() },
                kept,
                other,
                filled,
            }
        })
        .collect();
    views.push(FieldView {
        name: t.get(field_key("created_at")),
        kept: t.time(kept.created_at),
        other: t.time(other.created_at),
        result: t.time(kept.created_at),
        filled: false,
    });
    views.push(FieldView {
        name: t.get(field_key("login_count")),
        kept: kept.login_count.to_string(),
        other: other.login_count.to_string(),
        result: (kept.login_count + other.login_count).to_string(),
        filled: false,
    });
    views
}

/// `GET /admin/users/{id}/merge?with=OTHER`: what the merge would do.
pub async fn preview(
    state: web::Data<AppState>,
    t: Tr,
    admin: web::ReqData<AdminIdentity>,
    path: web::Path<String>,
    query: web::Query<MergeQuery>,
) -> Result<HttpResponse, AdminError> {
    let id = parse_id(&path)?;
    let other = other_id(&query.with)?;
    let preview = accounts::merge_preview(&state, id, other).await?;
    let page = MergePage {
        layout: Layout::signed_in(&t, t.two("merge-title", "a", id, "b", other), &admin),
        csrf: admin.csrf.clone(),
        from: id,
        kept: preview.kept.id,
        removed: preview.removed.id,
        fields: fields(
            &t,
            &preview.kept,
            &preview.removed,
            &preview.filled,
            admin.can(crate::domain::admin_role::Permission::SeePhone),
        ),
        moving: preview
            .moving
            .into_iter()
            .map(|i| MovingIdentity {
                app: users::app_name(&state, &i.appid).unwrap_or(i.appid),
                openid: i.openid,
            })
            .collect(),
        sessions_moving: preview.sessions_moving,
        t,
    };
    render(StatusCode::OK, &page)
}

/// `POST /admin/users/{id}/merge`: merges, then shows the kept account.
pub async fn merge(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: web::ReqData<AdminIdentity>,
    path: web::Path<String>,
    form: web::Form<MergeForm>,
) -> Result<HttpResponse, AdminError> {
    csrf::check(&admin, &form.csrf)?;
    let id = parse_id(&path)?;
    let other = other_id(&form.with)?;
    let actor = actor(&state, &req, admin.into_inner());
    let merged = accounts::merge(&state, actor, id, other).await?;
    Ok(see_other(&format!("/admin/users/{}", merged.kept)))
}

/// `POST /admin/users/{id}/identities/{identity_id}/unlink`: then shows the
/// identity's new account.
pub async fn unlink(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: web::ReqData<AdminIdentity>,
    path: web::Path<(String, String)>,
    form: web::Form<csrf::CsrfForm>,
) -> Result<HttpResponse, AdminError> {
    csrf::check(&admin, &form.csrf)?;
    let (id, identity_id) = path.into_inner();
    let (id, identity_id) = (parse_id(&id)?, parse_id(&identity_id)?);
    let actor = actor(&state, &req, admin.into_inner());
    let new_account = accounts::unlink(&state, actor, id, identity_id).await?;
    Ok(see_other(&format!("/admin/users/{new_account}")))
}
