//! How the admin pages show values: numbers, counts, rows, and the table's
//! links (sort headers, pager). Pure functions, unit-tested; words and
//! times come from the request's [`Tr`].

use super::i18n::Tr;
use super::words::gender_key;
use crate::db::user_list::UserRow;
use crate::domain::profile::mask_phone;
use crate::domain::user_query::{Page, SortColumn, SortOrder, UserListArgs, UserQuery};
use crate::service::users::Count;

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

/// A count in words: "1,234", "about 1,234", "more than 10,000".
pub fn count_text(t: &Tr, count: Count) -> String {
    match count {
        Count::Exact(n) => thousands(n),
        Count::About(n) => t.one("count-about", "n", thousands(n)),
        Count::MoreThan(n) => t.one("count-more-than", "n", thousands(n)),
    }
}

/// The number a count's words agree with ("1 user", "2 users").
pub fn count_number(count: Count) -> i64 {
    match count {
        Count::Exact(n) | Count::About(n) | Count::MoreThan(n) => n,
    }
}

/// Whether a stored URL may be shown as a link: only http(s). Anything else
/// is shown as text, whatever made its way into the database.
pub fn is_web_link(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

/// A row of the user table, as shown: an account.
pub struct RowView {
    pub id: i64,
    /// Each identity's openid, with its app's name (or appid).
    pub identities: Vec<(String, String)>,
    pub unionid: String,
    pub nickname: String,
    pub gender: String,
    pub province: String,
    pub city: String,
    pub created_at: String,
    pub last_login_at: String,
    /// Masked: lists never show a whole phone number.
    pub phone: String,
    /// WeChat's risk rank, or empty when none was asked.
    pub risk_rank: String,
    /// A closed account, whose row is empty.
    pub deleted: bool,
}

impl RowView {
    /// The row of `r`, naming each app by `app_name` where it has one.
    pub fn new(t: &Tr, r: UserRow, app_name: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            id: r.id,
            identities: r
                .identities
                .into_iter()
                .map(|i| (i.openid, app_name(&i.appid).unwrap_or(i.appid)))
                .collect(),
            unionid: r.unionid.unwrap_or_default(),
            nickname: r.nickname,
            gender: t.get(gender_key(r.gender)),
            province: r.province,
            city: r.city,
            created_at: t.time(r.created_at),
            last_login_at: t.time(r.last_login_at),
            phone: r
                .phone_number
                .as_deref()
                .map(mask_phone)
                .unwrap_or_default(),
            risk_rank: r.risk_rank.map(|r| r.to_string()).unwrap_or_default(),
            deleted: r.deleted_at.is_some(),
        }
    }
}

/// `path?params`: the list parameters plus extra pairs.
pub fn url_with(path: &str, list: &UserListArgs, extra: &[(&str, String)]) -> String {
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

/// The list parameters as they are in force (blank ones dropped).
pub fn canonical_args(raw: &UserListArgs, query: &UserQuery) -> UserListArgs {
    let f = &query.filter;
    UserListArgs {
        q: f.q.clone(),
        app: f.appid.clone(),
        gender: f.gender.map(|g| g.to_string()),
        province: f.province.clone(),
        city: f.city.clone(),
        has_unionid: f
            .has_unionid
            .map(|b| if b { "yes" } else { "no" }.to_owned()),
        risk_min: f.risk_min.map(|r| r.to_string()),
        created_from: f.created.from.map(|d| d.to_string()),
        created_to: f.created.to.map(|d| d.to_string()),
        sort: raw.sort.as_ref().map(|_| query.sort.name().to_owned()),
        order: raw.order.as_ref().map(|_| query.order.name().to_owned()),
    }
}

fn column_key(c: SortColumn) -> &'static str {
    match c {
        SortColumn::Unionid => "col-unionid",
        SortColumn::Nickname => "col-nickname",
        SortColumn::Gender => "col-gender",
        SortColumn::Province => "col-province",
        SortColumn::City => "col-city",
        SortColumn::RiskRank => "col-risk",
        SortColumn::CreatedAt => "col-created",
        SortColumn::LastLoginAt => "col-last-login",
    }
}

/// A column header that sorts the table.
pub struct SortHeader {
    /// The column's name in the URL, which pages and tests find it by.
    pub column: &'static str,
    pub label: String,
    pub url: String,
    /// "ascending", "descending" or "none", for `aria-sort`.
    pub aria: &'static str,
    pub arrow: &'static str,
}

/// The headers of every sortable column: the current one reverses its
/// order, the others sort ascending. `extra` is kept in every link.
pub fn sort_headers(
    t: &Tr,
    query: &UserQuery,
    list: &UserListArgs,
    extra: &[(&str, String)],
) -> Vec<SortHeader> {
    SortColumn::ALL
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
            SortHeader {
                column: c.name(),
                label: t.get(column_key(c)),
                url: url_with("/admin/users", &sorted, extra),
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
        .collect()
}

/// The cursors of the Previous and Next links of a page: the keys of its
/// first and last rows, where such pages exist. After a "before" page
/// there is always a next page; after a first or "after" page there is a
/// previous one unless it is the first.
pub fn pager_cursors(
    page: &Page,
    first: Option<String>,
    last: Option<String>,
    more: bool,
) -> (Option<String>, Option<String>) {
    match page {
        Page::First => (None, last.filter(|_| more)),
        Page::After(_) => (first, last.filter(|_| more)),
        Page::Before(_) => (first.filter(|_| more), last),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::user_query::{KeyValue, SortKey};

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        let en = Tr::new(super::super::i18n::Lang::En, chrono_tz::UTC);
        let zh = Tr::new(super::super::i18n::Lang::ZhCn, chrono_tz::UTC);
        assert_eq!(count_text(&en, Count::MoreThan(10_000)), "more than 10,000");
        assert_eq!(count_text(&en, Count::About(1_200)), "about 1,200");
        assert_eq!(count_text(&zh, Count::About(1_200)), "约 1,200");
        assert_eq!(count_text(&zh, Count::Exact(7)), "7");
    }

    #[test]
    fn pagers_link_where_pages_exist() {
        let key = SortKey {
            value: KeyValue::Int(1),
            id: 1,
        };
        let (f, l) = (Some("f".to_owned()), Some("l".to_owned()));
        assert_eq!(
            pager_cursors(&Page::First, f.clone(), l.clone(), false),
            (None, None)
        );
        assert_eq!(
            pager_cursors(&Page::First, f.clone(), l.clone(), true),
            (None, l.clone())
        );
        assert_eq!(
            pager_cursors(&Page::After(key.clone()), f.clone(), l.clone(), false),
            (f.clone(), None)
        );
        assert_eq!(
            pager_cursors(&Page::Before(key), f.clone(), l.clone(), false),
            (None, l)
        );
    }

    #[test]
    fn headers_reverse_the_current_sort() {
        let query = UserQuery::default();
        let t = Tr::new(super::super::i18n::Lang::En, chrono_tz::UTC);
        let headers = sort_headers(&t, &query, &UserListArgs::default(), &[]);
        let created = headers.iter().find(|h| h.label == "Created").unwrap();
        assert_eq!(created.column, "created_at");
        assert_eq!(created.aria, "descending");
        assert!(created.url.contains("order=asc"), "{}", created.url);
        let city = headers.iter().find(|h| h.label == "City").unwrap();
        assert_eq!(city.aria, "none");
        assert!(city.url.contains("sort=city&order=asc"), "{}", city.url);
    }
}
