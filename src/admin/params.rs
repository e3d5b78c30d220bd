//! The user table page's own URL parameters, beside the query's: rows per
//! page, the page cursor, and the CSV's byte order mark.

use serde::Deserialize;

use crate::domain::user_query::{InvalidParam, Page, SortColumn, SortKey, UserListArgs};

pub const PER_PAGE_CHOICES: [i64; 4] = [25, 50, 100, 200];
pub const DEFAULT_PER_PAGE: i64 = 50;

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
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
                .ok_or(InvalidParam::PerPage),
        }
    }

    pub fn page(&self, sort: SortColumn) -> Result<Page, InvalidParam> {
        let stale = InvalidParam::StaleCursor;
        match (given(&self.after), given(&self.before)) {
            (None, None) => Ok(Page::First),
            (Some(c), None) => SortKey::decode(c, sort).map(Page::After).ok_or(stale),
            (None, Some(c)) => SortKey::decode(c, sort).map(Page::Before).ok_or(stale),
            (Some(_), Some(_)) => Err(InvalidParam::BothCursors),
        }
    }

    pub fn bom(&self) -> Result<bool, InvalidParam> {
        match given(&self.bom) {
            None | Some("1") => Ok(true),
            Some("0") => Ok(false),
            Some(_) => Err(InvalidParam::Bom),
        }
    }
}
