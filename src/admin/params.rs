//! The user table's parameters, as they come from a URL or the command line,
//! and their validation into a [`UserQuery`].

use chrono::NaiveDate;
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::db::user_list::{SortColumn, SortKey, SortOrder, UserFilter, UserQuery};

pub const PER_PAGE_CHOICES: [i64; 4] = [25, 50, 100, 200];
pub const DEFAULT_PER_PAGE: i64 = 50;
const MAX_SEARCH_CHARS: usize = 100;
const MAX_PLACE_CHARS: usize = 64;

/// Which users, in which order: the table's state, kept in its URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize, Serialize)]
#[serde(default)]
pub struct UserListArgs {
    /// Search: an openid or unionid (exact or prefix), or part of a nickname (any case).
    #[arg(long)]
    #[serde(skip_serializing_if = "is_blank")]
    pub q: Option<String>,
    /// 0 (unknown), 1 (male) or 2 (female).
    #[arg(long)]
    #[serde(skip_serializing_if = "is_blank")]
    pub gender: Option<String>,
    #[arg(long)]
    #[serde(skip_serializing_if = "is_blank")]
    pub province: Option<String>,
    #[arg(long)]
    #[serde(skip_serializing_if = "is_blank")]
    pub city: Option<String>,
    /// `yes` or `no`.
    #[arg(long)]
    #[serde(skip_serializing_if = "is_blank")]
    pub has_unionid: Option<String>,
    /// First creation day included, YYYY-MM-DD (UTC).
    #[arg(long)]
    #[serde(skip_serializing_if = "is_blank")]
    pub created_from: Option<String>,
    /// Last creation day included, YYYY-MM-DD (UTC).
    #[arg(long)]
    #[serde(skip_serializing_if = "is_blank")]
    pub created_to: Option<String>,
    /// Sort column: openid, unionid, nickname, gender, province, city, created_at (default) or last_login_at.
    #[arg(long)]
    #[serde(skip_serializing_if = "is_blank")]
    pub sort: Option<String>,
    /// `asc` or `desc` (default).
    #[arg(long)]
    #[serde(skip_serializing_if = "is_blank")]
    pub order: Option<String>,
}

fn is_blank(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(|s| s.trim().is_empty())
}

/// A parameter that cannot be used, with a sentence saying why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidParam(pub String);

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn text(v: &Option<String>, name: &str, max: usize) -> Result<Option<String>, InvalidParam> {
    match given(v) {
        Some(s) if s.chars().count() > max => Err(InvalidParam(format!(
            "{name} is longer than {max} characters"
        ))),
        Some(s) if s.chars().any(char::is_control) => {
            Err(InvalidParam(format!("{name} contains control characters")))
        }
        Some(s) => Ok(Some(s.to_owned())),
        None => Ok(None),
    }
}

fn date(v: &Option<String>, name: &str) -> Result<Option<NaiveDate>, InvalidParam> {
    given(v)
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| InvalidParam(format!("{name} must be a date written YYYY-MM-DD")))
        })
        .transpose()
}

impl UserListArgs {
    /// Validates the parameters.
    pub fn to_query(&self) -> Result<UserQuery, InvalidParam> {
        let gender = match given(&self.gender) {
            None => None,
            Some("0") => Some(0),
            Some("1") => Some(1),
            Some("2") => Some(2),
            Some(_) => {
                return Err(InvalidParam(
                    "gender must be 0 (unknown), 1 (male) or 2 (female)".into(),
                ))
            }
        };
        let has_unionid = match given(&self.has_unionid) {
            None => None,
            Some("yes") => Some(true),
            Some("no") => Some(false),
            Some(_) => return Err(InvalidParam("has_unionid must be yes or no".into())),
        };
        let created_from = date(&self.created_from, "created_from")?;
        let created_to = date(&self.created_to, "created_to")?;
        if let (Some(from), Some(to)) = (created_from, created_to) {
            if from > to {
                return Err(InvalidParam("created_from is after created_to".into()));
            }
        }
        let sort = match given(&self.sort) {
            None => SortColumn::default(),
            Some(s) => SortColumn::parse(s).ok_or_else(|| {
                let names: Vec<_> = SortColumn::ALL.iter().map(|c| c.name()).collect();
                InvalidParam(format!("sort must be one of {}", names.join(", ")))
            })?,
        };
        let order = match given(&self.order) {
            None => SortOrder::default(),
            Some(s) => SortOrder::parse(s)
                .ok_or_else(|| InvalidParam("order must be asc or desc".into()))?,
        };
        Ok(UserQuery {
            filter: UserFilter {
                q: text(&self.q, "the search text", MAX_SEARCH_CHARS)?,
                gender,
                province: text(&self.province, "province", MAX_PLACE_CHARS)?,
                city: text(&self.city, "city", MAX_PLACE_CHARS)?,
                has_unionid,
                created_from,
                created_to,
                ids_only: false,
            },
            sort,
            order,
        })
    }
}

/// The table page's own parameters beside the list's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TableParams {
    #[serde(flatten)]
    pub list: UserListArgs,
    pub per_page: Option<String>,
    /// Cursor: the page after this key.
    pub after: Option<String>,
    /// Cursor: the page before this key.
    pub before: Option<String>,
    /// CSV only: `0` leaves out the byte order mark.
    pub bom: Option<String>,
}

impl TableParams {
    pub fn per_page(&self) -> Result<i64, InvalidParam> {
        match given(&self.per_page) {
            None => Ok(DEFAULT_PER_PAGE),
            Some(s) => s
                .parse()
                .ok()
                .filter(|n| PER_PAGE_CHOICES.contains(n))
                .ok_or_else(|| InvalidParam("per_page must be 25, 50, 100 or 200".into())),
        }
    }

    pub fn page(&self, sort: SortColumn) -> Result<crate::db::user_list::Page, InvalidParam> {
        use crate::db::user_list::Page;
        let stale = || {
            InvalidParam(
                "this page link is not valid for the current sort; start again from the first page"
                    .into(),
            )
        };
        match (given(&self.after), given(&self.before)) {
            (None, None) => Ok(Page::First),
            (Some(c), None) => SortKey::decode(c, sort).map(Page::After).ok_or_else(stale),
            (None, Some(c)) => SortKey::decode(c, sort).map(Page::Before).ok_or_else(stale),
            (Some(_), Some(_)) => Err(InvalidParam("give either after or before, not both".into())),
        }
    }

    pub fn bom(&self) -> Result<bool, InvalidParam> {
        match given(&self.bom) {
            None | Some("1") => Ok(true),
            Some("0") => Ok(false),
            Some(_) => Err(InvalidParam("bom must be 0 or 1".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &str) -> UserListArgs {
        serde_urlencoded::from_str(pairs).unwrap()
    }

    #[test]
    fn valid_parameters_parse() {
        let q = args("q=+abc+&gender=2&province=%E5%B9%BF%E4%B8%9C&has_unionid=no&created_from=2026-01-01&created_to=2026-01-31&sort=city&order=asc")
            .to_query()
            .unwrap();
        assert_eq!(q.filter.q.as_deref(), Some("abc"));
        assert_eq!(q.filter.gender, Some(2));
        assert_eq!(q.filter.province.as_deref(), Some("广东"));
        assert_eq!(q.filter.has_unionid, Some(false));
        assert_eq!(q.sort, SortColumn::City);
        assert_eq!(q.order, SortOrder::Asc);
        assert_eq!(
            args("gender=&sort=&q=").to_query().unwrap(),
            UserQuery::default()
        );
    }

    #[test]
    fn invalid_parameters_say_why() {
        for (input, needle) in [
            ("gender=3", "gender"),
            ("has_unionid=maybe", "has_unionid"),
            ("created_from=2026-13-01", "created_from"),
            ("created_from=2026-02-01&created_to=2026-01-01", "after"),
            ("sort=session_key", "sort must be one of"),
            ("order=up", "order"),
        ] {
            let err = args(input).to_query().unwrap_err().0;
            assert!(err.contains(needle), "{input}: {err}");
        }
        let long = format!("q={}", "x".repeat(101));
        assert!(args(&long).to_query().is_err());
    }

    #[test]
    fn blank_parameters_are_left_out_of_urls() {
        let a = args("q=&gender=1&sort=");
        assert_eq!(serde_urlencoded::to_string(&a).unwrap(), "gender=1");
    }
}
