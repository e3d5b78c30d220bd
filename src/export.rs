//! The user CSV, shared by `/admin/users.csv` and `wxlogin export`.
//!
//! RFC 4180 (header row, quoting where needed, CRLF), UTF-8 with an
//! optional BOM so that Excel reads Chinese text, and OWASP's defence
//! against formula injection: a cell starting with `=`, `+`, `-`, `@`, tab or
//! carriage return gets a leading `'`. Rows are read in keyset batches, so
//! memory stays flat however large the table is.

use crate::db::user_list::{self, Page, UserQuery, UserRow};
use crate::db::{DbError, DbPool};

pub const BOM: &[u8] = b"\xEF\xBB\xBF";
pub const HEADER: [&str; 14] = [
    "id",
    "openid",
    "unionid",
    "nickname",
    "gender",
    "country",
    "province",
    "city",
    "language",
    "created_at",
    "last_login_at",
    "login_count",
    "phone",
    "phone_country_code",
];

/// Rows read from the database per batch.
pub const BATCH_ROWS: i64 = 5_000;

/// Prefixes a cell that a spreadsheet would read as a formula.
pub fn defuse(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

fn timestamp(t: chrono::NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn new_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(256 * 1024))
}

fn write_row(w: &mut csv::Writer<Vec<u8>>, row: &UserRow) -> csv::Result<()> {
    let id = row.id.to_string();
    let gender = row.gender.to_string();
    let created = timestamp(row.created_at);
    let last_login = timestamp(row.last_login_at);
    let count = row.login_count.to_string();
    let cells = [
        id.as_str(),
        &row.openid,
        row.unionid.as_deref().unwrap_or(""),
        &row.nickname,
        &gender,
        &row.country,
        &row.province,
        &row.city,
        &row.language,
        &created,
        &last_login,
        &count,
        row.phone_number.as_deref().unwrap_or(""),
        row.phone_country_code.as_deref().unwrap_or(""),
    ];
    w.write_record(cells.iter().map(|c| match defuse(c) {
        std::borrow::Cow::Borrowed(s) => std::borrow::Cow::Borrowed(s.as_bytes()),
        std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(s.into_bytes()),
    }))
}

/// The first chunk: the BOM (if wanted) and the header row.
pub fn head(bom: bool) -> Vec<u8> {
    let mut w = new_writer();
    w.write_record(HEADER).expect("writing to memory");
    let mut out = if bom { BOM.to_vec() } else { Vec::new() };
    out.extend(w.into_inner().expect("writing to memory"));
    out
}

/// Writes every user that `query` selects, in its order, as CSV chunks of
/// about one batch each, after the [`head`]. `sink` returns false to stop
/// early (the reader went away). Returns the number of rows written.
///
/// Each batch takes a connection from the pool and gives it back before its
/// chunk goes to `sink`: a download that waits for a slow client holds no
/// connection meanwhile. Batches follow each other by keyset, so the rows
/// are the same as one query's, but for changes made during the export.
pub fn write_rows(
    pool: &DbPool,
    query: &UserQuery,
    mut sink: impl FnMut(Vec<u8>) -> bool,
) -> Result<u64, DbError> {
    let mut query = query.clone();
    user_list::plan_search(&mut *pool.get()?, &mut query.filter)?;
    let mut page = Page::First;
    let mut written = 0u64;
    loop {
        let (rows, more) = user_list::list(&mut *pool.get()?, &query, &page, BATCH_ROWS)?;
        let mut w = new_writer();
        for row in &rows {
            write_row(&mut w, row).expect("writing to memory");
        }
        written += rows.len() as u64;
        let chunk = w.into_inner().expect("writing to memory");
        if !chunk.is_empty() && !sink(chunk) {
            return Ok(written);
        }
        match rows.last() {
            Some(last) if more => page = Page::After(query.sort.key_of(last)),
            _ => return Ok(written),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused() {
        for bad in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(defuse(bad), format!("'{bad}"));
        }
        for good in ["", "张三", "a=b", "'quoted"] {
            assert_eq!(defuse(good), good);
        }
    }

    #[test]
    fn head_has_bom_and_crlf() {
        let h = head(true);
        assert!(h.starts_with(BOM));
        assert!(h.ends_with(b"login_count,phone,phone_country_code\r\n"));
        assert!(!head(false).starts_with(BOM));
    }
}
