//! Which users, in which order: the user table's query, as it comes from a
//! URL or the command line ([`UserListArgs`]), validated into a
//! [`UserQuery`], with the keyset cursors that page through it. Shared by
//! the admin table, its CSV and `wxlogin export`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{NaiveDate, NaiveDateTime};
use chrono_tz::Tz;
use clap::Args;
use serde::{Deserialize, Serialize};

use super::display_time::start_of_day;

const MAX_SEARCH_CHARS: usize = 100;
const MAX_PLACE_CHARS: usize = 64;
const MAX_APPID_CHARS: usize = 32;

/// Which users, in which order: the table's state, kept in its URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize, Serialize)]
#[serde(default)]
pub struct UserListArgs {
    /// Search: an openid or unionid (exact or prefix), part of a nickname (any
    /// case), or a whole phone number (phone numbers are encrypted, so never a part).
    #[arg(long)]
    #[serde(skip_serializing_if = "is_blank")]
    pub q: Option<String>,
    /// Only accounts with an identity in this app (its appid).
    #[arg(long)]
    #[serde(skip_serializing_if = "is_blank")]
    pub app: Option<String>,
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
    /// Only accounts whose WeChat risk rank is at least this, 0 to 4 (see
    /// the README's "Risky sign-ups").
    #[arg(long)]
    #[serde(skip_serializing_if = "is_blank")]
    pub risk_min: Option<String>,
    /// First creation day included, YYYY-MM-DD: a UTC day (the admin site
    /// reads it in its --admin-timezone).
    #[arg(long)]
    #[serde(skip_serializing_if = "is_blank")]
    pub created_from: Option<String>,
    /// Last creation day included, YYYY-MM-DD: a UTC day (the admin site
    /// reads it in its --admin-timezone).
    #[arg(long)]
    #[serde(skip_serializing_if = "is_blank")]
    pub created_to: Option<String>,
    /// Sort column: unionid, nickname, gender, province, city, risk_rank, created_at (default) or last_login_at.
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

/// A parameter of the user table that cannot be used. Its `Display` is
/// the English sentence the command line prints; the admin site says each
/// in the admin's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidParam {
    #[error("{} is longer than {max} characters", .param.describe())]
    TooLong { param: Param, max: usize },
    #[error("{} contains control characters", .param.describe())]
    ControlCharacters { param: Param },
    #[error("{} must be a date written YYYY-MM-DD", .param.describe())]
    NotADate { param: Param },
    #[error("gender must be 0 (unknown), 1 (male) or 2 (female)")]
    Gender,
    #[error("has_unionid must be yes or no")]
    HasUnionid,
    #[error("risk_min must be a risk rank from 0 to 4")]
    RiskMin,
    #[error("created_from is after created_to")]
    DaysReversed,
    #[error("sort must be one of {}", sort_names())]
    Sort,
    #[error("order must be asc or desc")]
    Order,
    #[error("per_page must be 25, 50, 100 or 200")]
    PerPage,
    #[error("this page link is not valid for the current sort; start again from the first page")]
    StaleCursor,
    #[error("give either after or before, not both")]
    BothCursors,
    #[error("bom must be 0 or 1")]
    Bom,
}

/// A free-text or date parameter, named in [`InvalidParam`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    Q,
    App,
    Province,
    City,
    CreatedFrom,
    CreatedTo,
}

impl Param {
    /// Its name in the URL.
    pub fn name(self) -> &'static str {
        match self {
            Self::Q => "q",
            Self::App => "app",
            Self::Province => "province",
            Self::City => "city",
            Self::CreatedFrom => "created_from",
            Self::CreatedTo => "created_to",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Q => "the search text",
            other => other.name(),
        }
    }
}

/// The sort columns' names, for the refusal of another.
pub fn sort_names() -> String {
    let names: Vec<_> = SortColumn::ALL.iter().map(|c| c.name()).collect();
    names.join(", ")
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn text(v: &Option<String>, param: Param, max: usize) -> Result<Option<String>, InvalidParam> {
    match given(v) {
        Some(s) if s.chars().count() > max => Err(InvalidParam::TooLong { param, max }),
        Some(s) if s.chars().any(char::is_control) => {
            Err(InvalidParam::ControlCharacters { param })
        }
        Some(s) => Ok(Some(s.to_owned())),
        None => Ok(None),
    }
}

fn date(v: &Option<String>, param: Param) -> Result<Option<NaiveDate>, InvalidParam> {
    given(v)
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| InvalidParam::NotADate { param })
        })
        .transpose()
}

impl UserListArgs {
    /// Validates the parameters. The creation days are days in `zone`.
    pub fn to_query(&self, zone: Tz) -> Result<UserQuery, InvalidParam> {
        let gender = match given(&self.gender) {
            None => None,
            Some("0") => Some(0),
            Some("1") => Some(1),
            Some("2") => Some(2),
            Some(_) => return Err(InvalidParam::Gender),
        };
        let has_unionid = match given(&self.has_unionid) {
            None => None,
            Some("yes") => Some(true),
            Some("no") => Some(false),
            Some(_) => return Err(InvalidParam::HasUnionid),
        };
        let risk_min = match given(&self.risk_min) {
            None => None,
            Some(s) => Some(
                s.parse::<i16>()
                    .ok()
                    .filter(|r| (0..=4).contains(r))
                    .ok_or(InvalidParam::RiskMin)?,
            ),
        };
        let created = CreatedDays {
            from: date(&self.created_from, Param::CreatedFrom)?,
            to: date(&self.created_to, Param::CreatedTo)?,
            zone,
        };
        if let (Some(from), Some(to)) = (created.from, created.to) {
            if from > to {
                return Err(InvalidParam::DaysReversed);
            }
        }
        let sort = match given(&self.sort) {
            None => SortColumn::default(),
            Some(s) => SortColumn::parse(s).ok_or(InvalidParam::Sort)?,
        };
        let order = match given(&self.order) {
            None => SortOrder::default(),
            Some(s) => SortOrder::parse(s).ok_or(InvalidParam::Order)?,
        };
        let appid = text(&self.app, Param::App, MAX_APPID_CHARS)?;
        Ok(UserQuery {
            filter: UserFilter {
                q: text(&self.q, Param::Q, MAX_SEARCH_CHARS)?,
                appid,
                gender,
                province: text(&self.province, Param::Province, MAX_PLACE_CHARS)?,
                city: text(&self.city, Param::City, MAX_PLACE_CHARS)?,
                has_unionid,
                risk_min,
                created,
                ids_only: false,
                id_matches: Vec::new(),
                phone_hashes: Vec::new(),
            },
            sort,
            order,
        })
    }
}

/// A sortable column of the user table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortColumn {
    Unionid,
    Nickname,
    Gender,
    Province,
    City,
    RiskRank,
    #[default]
    CreatedAt,
    LastLoginAt,
}

impl SortColumn {
    pub const ALL: [SortColumn; 8] = [
        Self::Unionid,
        Self::Nickname,
        Self::Gender,
        Self::Province,
        Self::City,
        Self::RiskRank,
        Self::CreatedAt,
        Self::LastLoginAt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Unionid => "unionid",
            Self::Nickname => "nickname",
            Self::Gender => "gender",
            Self::Province => "province",
            Self::City => "city",
            Self::RiskRank => "risk_rank",
            Self::CreatedAt => "created_at",
            Self::LastLoginAt => "last_login_at",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

impl SortOrder {
    pub fn name(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "asc" => Some(Self::Asc),
            "desc" => Some(Self::Desc),
            _ => None,
        }
    }

    pub fn reverse(self) -> Self {
        match self {
            Self::Asc => Self::Desc,
            Self::Desc => Self::Asc,
        }
    }
}

/// Which users to show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// openid or unionid, exactly or by prefix; a nickname substring, ignoring
    /// case; or a whole phone number (see `phone_hashes`).
    pub q: Option<String>,
    /// Accounts with an identity in this app.
    pub appid: Option<String>,
    pub gender: Option<i16>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub has_unionid: Option<bool>,
    /// Accounts whose risk rank is at least this.
    pub risk_min: Option<i16>,
    /// Creation days, in a time zone.
    pub created: CreatedDays,
    /// Match `q` against openid and unionid only; set by [`plan_search`].
    pub ids_only: bool,
    /// With `ids_only`: the accounts whose openid or unionid `q` starts,
    /// found by [`plan_search`] through the two id indexes.
    pub id_matches: Vec<i64>,
    /// When `q` is a phone number: its lookup hashes under every data key,
    /// which [`plan_search`] looks up in `accounts.phone_hash`.
    pub phone_hashes: Vec<String>,
}

/// The first and last creation day included, as days in `zone`: a day
/// runs from the zone's midnight to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatedDays {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub zone: Tz,
}

impl Default for CreatedDays {
    fn default() -> Self {
        Self {
            from: None,
            to: None,
            zone: chrono_tz::UTC,
        }
    }
}

impl CreatedDays {
    /// The first instant included (UTC), if the days have a start.
    pub fn since(&self) -> Option<NaiveDateTime> {
        self.from.map(|day| start_of_day(day, self.zone))
    }

    /// The first instant after the last day (UTC), if the days have an end.
    pub fn until(&self) -> Option<NaiveDateTime> {
        self.to
            .and_then(|day| day.succ_opt())
            .map(|day| start_of_day(day, self.zone))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    pub filter: UserFilter,
    pub sort: SortColumn,
    pub order: SortOrder,
}

/// A sort value; its type follows the column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValue {
    Int(i16),
    Time(NaiveDateTime),
    Text(String),
}

/// Where a page starts: the sort value and id of the row beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub value: KeyValue,
    pub id: i64,
}

const CURSOR_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

impl SortKey {
    /// An opaque, URL-safe cursor naming this key in `column`'s sort.
    pub fn encode(&self, column: SortColumn) -> String {
        let value = match &self.value {
            KeyValue::Int(v) => serde_json::Value::from(*v),
            KeyValue::Time(t) => t.format(CURSOR_TIME_FORMAT).to_string().into(),
            KeyValue::Text(s) => s.as_str().into(),
        };
        let json = serde_json::json!([column.name(), value, self.id]);
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    /// Reads a cursor back. `None` if it is malformed or was made for
    /// another sort column: the value must have that column's type.
    pub fn decode(cursor: &str, column: SortColumn) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let (name, value, id): (String, serde_json::Value, i64) =
            serde_json::from_slice(&bytes).ok()?;
        if name != column.name() {
            return None;
        }
        let value = match column {
            SortColumn::Gender => KeyValue::Int(i16::try_from(value.as_i64()?).ok()?),
            SortColumn::CreatedAt | SortColumn::LastLoginAt => KeyValue::Time(
                NaiveDateTime::parse_from_str(value.as_str()?, CURSOR_TIME_FORMAT).ok()?,
            ),
            _ => KeyValue::Text(value.as_str()?.to_owned()),
        };
        Some(Self { value, id })
    }
}

/// Which page of a sorted, filtered list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Page {
    #[default]
    First,
    /// Rows after this key, in the sort order.
    After(SortKey),
    /// Rows before this key, in the sort order.
    Before(SortKey),
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
            .to_query(chrono_tz::UTC)
            .unwrap();
        assert_eq!(q.filter.q.as_deref(), Some("abc"));
        assert_eq!(q.filter.gender, Some(2));
        assert_eq!(q.filter.province.as_deref(), Some("广东"));
        assert_eq!(q.filter.has_unionid, Some(false));
        assert_eq!(q.sort, SortColumn::City);
        assert_eq!(q.order, SortOrder::Asc);
        assert_eq!(
            args("gender=&sort=&q=").to_query(chrono_tz::UTC).unwrap(),
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
            let err = args(input)
                .to_query(chrono_tz::UTC)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{input}: {err}");
        }
        let long = format!("q={}", "x".repeat(101));
        assert_eq!(
            args(&long).to_query(chrono_tz::UTC),
            Err(InvalidParam::TooLong {
                param: Param::Q,
                max: MAX_SEARCH_CHARS
            })
        );
    }

    #[test]
    fn creation_days_are_read_in_the_zone() {
        let shanghai = super::super::display_time::DEFAULT_ZONE;
        let q = args("created_from=2026-01-02&created_to=2026-01-02")
            .to_query(shanghai)
            .unwrap();
        let at = |s| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok();
        assert_eq!(q.filter.created.since(), at("2026-01-01 16:00:00"));
        assert_eq!(q.filter.created.until(), at("2026-01-02 16:00:00"));
        let q = args("created_from=2026-01-02")
            .to_query(chrono_tz::UTC)
            .unwrap();
        assert_eq!(q.filter.created.since(), at("2026-01-02 00:00:00"));
        assert_eq!(q.filter.created.until(), None);
    }

    #[test]
    fn blank_parameters_are_left_out_of_urls() {
        let a = args("q=&gender=1&sort=");
        assert_eq!(serde_urlencoded::to_string(&a).unwrap(), "gender=1");
    }

    #[test]
    fn cursors_round_trip_and_refuse_other_columns() {
        let time = NaiveDate::from_ymd_opt(2026, 1, 2)
            .unwrap()
            .and_hms_micro_opt(3, 4, 5, 6)
            .unwrap();
        let cases = [
            (SortColumn::CreatedAt, KeyValue::Time(time)),
            (SortColumn::Gender, KeyValue::Int(2)),
            (
                SortColumn::Nickname,
                KeyValue::Text("2026-01-02T03:04:05.000006".into()),
            ),
            (SortColumn::Unionid, KeyValue::Text(String::new())),
        ];
        for (column, value) in cases {
            let key = SortKey { value, id: 42 };
            let cursor = key.encode(column);
            assert_eq!(SortKey::decode(&cursor, column), Some(key.clone()));
            let other = if column == SortColumn::Gender {
                SortColumn::City
            } else {
                SortColumn::Gender
            };
            assert_eq!(SortKey::decode(&cursor, other), None);
        }
        assert_eq!(SortKey::decode("not base64!", SortColumn::City), None);
        assert_eq!(
            SortKey::decode(
                &URL_SAFE_NO_PAD.encode(r#"["gender","x",1]"#),
                SortColumn::Gender
            ),
            None
        );
    }

    #[test]
    fn sort_names_round_trip() {
        for c in SortColumn::ALL {
            assert_eq!(SortColumn::parse(c.name()), Some(c));
        }
        assert_eq!(SortColumn::parse("session_key"), None);
        assert_eq!(SortOrder::parse("asc"), Some(SortOrder::Asc));
        assert_eq!(SortOrder::parse("ASC"), None);
    }
}
