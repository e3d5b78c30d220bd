//! `POST /admin/language`: the language switcher in every page's header.
//! The choice is the signed-in admin's, kept with their account, and beats
//! the browser's from their next page on.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::csrf;
use super::i18n::{Lang, Msg};
use super::page::{safe_next, see_other};
use super::{AdminError, AdminIdentity};
use crate::service::admins;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LanguageForm {
    #[serde(default)]
    csrf: String,
    /// A language tag: `zh-CN` or `en`.
    #[serde(default)]
    lang: String,
    /// The page the switcher was on, to go back to.
    #[serde(default)]
    next: String,
}

pub async fn choose(
    state: web::Data<AppState>,
    admin: web::ReqData<AdminIdentity>,
    form: web::Form<LanguageForm>,
) -> Result<HttpResponse, AdminError> {
    csrf::check(&admin, &form.csrf)?;
    let lang = Lang::from_tag(&form.lang).ok_or_else(|| {
        let shown: String = form.lang.chars().take(32).collect();
        AdminError::BadRequest(Msg::one("err-unknown-language", "lang", shown))
    })?;
    admins::set_locale(&state.pool, admin.id, Some(lang.tag())).await?;
    Ok(see_other(&safe_next(Some(&form.next))))
}
