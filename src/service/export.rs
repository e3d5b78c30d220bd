//! The user CSV, shared by `/admin/users.csv` and `wxlogin export`: one row
//! per identity, with its account's profile.
//!
//! RFC 4180 (header row, quoting where needed, CRLF), UTF-8 with an
//! optional BOM so that Excel reads Chinese text, and OWASP's defence
//! against formula injection: a cell starting with `=`, `+`, `-`, `@`, tab or
//! carriage return gets a leading `'`, and a row with a `;` in any cell has
//! every cell quoted, for spreadsheets set to `;` as their separator. Rows
//! are read in keyset batches, so
//! memory stays flat however large the table is.

use super::audit::{self, Actor};
use super::ServiceResult;
use crate::db::admins::AuditAction;
use crate::db::identities::ListedIdentity;
use crate::db::user_list::{self, UserRow};
use crate::db::{DbError, DbPool};
use crate::domain::admin_role::Permission;
use crate::domain::data_keys::DataKeys;
use crate::domain::profile::mask_phone;
use crate::domain::user_query::{Page, UserQuery};
use crate::state::AppState;

pub const BOM: &[u8] = b"\xEF\xBB\xBF";
pub const HEADER: [&str; 17] = [
    "id",
    "account_id",
    "appid",
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
    "risk_rank",
];

/// The chunks of a CSV download: the header first, then one chunk a batch;
/// an error item ends an export that failed half-way.
pub type Chunks = tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>;

/// Starts an export for the admin site and returns its chunks. The database
/// is read only as fast as the chunks are taken. When it ends, the export
/// is written to the audit log with `filters`, the rows written and whether
/// the reader took them all.
///
/// Needs [`Permission::Export`]. Phone numbers are masked unless the server
/// runs with `--export-phone`.
pub async fn stream(
    state: &AppState,
    query: UserQuery,
    bom: bool,
    filters: String,
    actor: Actor,
) -> ServiceResult<Chunks> {
    super::admin_access::authorize(&state.pool, &actor, Permission::Export, "export users").await?;
    let pool = state.pool.clone();
    let phones = Phones {
        form: if state.admin_policy.export_phone {
            PhoneForm::Whole
        } else {
            PhoneForm::Masked
        },
        keys: state.data_keys.clone(),
    };
    let form = phones.form;
    // A small channel: a download that waits holds two chunks at most.
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tokio::task::spawn_blocking(move || {
        let send = |chunk: Vec<u8>| tx.blocking_send(Ok(bytes::Bytes::from(chunk))).is_ok();
        if !send(head(bom)) {
            return;
        }
        let mut complete = true;
        let result = write_rows(&pool, &query, &phones, |chunk| {
            let sent = send(chunk);
            complete &= sent;
            sent
        })
        .and_then(|rows| {
            let detail = serde_json::json!({
                "filters": filters,
                "rows": rows,
                "complete": complete,
                "phones": form.as_str(),
            })
            .to_string();
            audit::record(&mut *pool.get()?, &actor, AuditAction::Export, &detail)
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "CSV export failed");
            // Ends the body with an error, so the download is visibly incomplete.
            let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
        }
    });
    Ok(rx)
}

/// How phone numbers are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneForm {
    Whole,
    /// `138****0000`: enough to tell numbers apart, not to call one.
    Masked,
}

impl PhoneForm {
    fn as_str(self) -> &'static str {
        match self {
            Self::Whole => "whole",
            Self::Masked => "masked",
        }
    }
}

/// How phone numbers are written, and the keys that open them.
#[derive(Debug, Clone)]
pub struct Phones {
    pub form: PhoneForm,
    pub keys: DataKeys,
}

impl Phones {
    /// A stored (sealed) number as the CSV shows it.
    fn show(&self, stored: Option<&str>) -> String {
        let mut phone = stored.map(str::to_owned);
        super::personal_data::open_phone(&self.keys, &mut phone);
        match (self.form, phone) {
            (_, None) => String::new(),
            (PhoneForm::Whole, Some(p)) => p,
            (PhoneForm::Masked, Some(p)) => mask_phone(&p),
        }
    }
}

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
    writer_into(Vec::with_capacity(256 * 1024), csv::QuoteStyle::Necessary)
}

fn writer_into(out: Vec<u8>, quoting: csv::QuoteStyle) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(quoting)
        .from_writer(out)
}

/// Writes one row per identity of the account (one with empty identity
/// cells, should it have none). Returns the number of rows.
fn write_account(w: &mut csv::Writer<Vec<u8>>, row: &UserRow, phones: &Phones) -> csv::Result<u64> {
    if row.identities.is_empty() {
        write_row(w, row, None, phones)?;
        return Ok(1);
    }
    for identity in &row.identities {
        write_row(w, row, Some(identity), phones)?;
    }
    Ok(row.identities.len() as u64)
}

fn write_row(
    w: &mut csv::Writer<Vec<u8>>,
    row: &UserRow,
    identity: Option<&ListedIdentity>,
    phones: &Phones,
) -> csv::Result<()> {
    let phone = phones.show(row.phone_number.as_deref());
    let id = identity.map(|i| i.id.to_string()).unwrap_or_default();
    let account_id = row.id.to_string();
    let gender = row.gender.to_string();
    let created = timestamp(row.created_at);
    let last_login = timestamp(row.last_login_at);
    let count = row.login_count.to_string();
    let risk_rank = identity
        .and_then(|i| i.risk_rank)
        .map(|r| r.to_string())
        .unwrap_or_default();
    let cells = [
        id.as_str(),
        &account_id,
        identity.map_or("", |i| i.appid.as_str()),
        identity.map_or("", |i| i.openid.as_str()),
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
        &phone,
        row.phone_country_code.as_deref().unwrap_or(""),
        &risk_rank,
    ];
    let record = cells.iter().map(|c| match defuse(c) {
        std::borrow::Cow::Borrowed(s) => std::borrow::Cow::Borrowed(s.as_bytes()),
        std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(s.into_bytes()),
    });
    if !cells.iter().any(|c| c.contains(';')) {
        return w.write_record(record);
    }
    // A spreadsheet set to `;` as its separator would split an unquoted
    // cell at its semicolon, and the piece after it could start a formula.
    // The csv writer quotes only what a comma-separated reader needs, so a
    // row with a semicolon has all its cells quoted.
    let out = std::mem::replace(w, csv::Writer::from_writer(Vec::new()))
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    let mut quoted = writer_into(out, csv::QuoteStyle::Always);
    quoted.write_record(record)?;
    let out = quoted
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    *w = writer_into(out, csv::QuoteStyle::Necessary);
    Ok(())
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
    phones: &Phones,
    mut sink: impl FnMut(Vec<u8>) -> bool,
) -> Result<u64, DbError> {
    let mut query = query.clone();
    query.filter.phone_hashes = super::users::phone_hashes(&phones.keys, query.filter.q.as_deref());
    user_list::plan_search(&mut *pool.get()?, &mut query.filter)?;
    let mut page = Page::First;
    let mut written = 0u64;
    loop {
        let (rows, more) = user_list::list(&mut *pool.get()?, &query, &page, BATCH_ROWS)?;
        let mut w = new_writer();
        for row in &rows {
            written += write_account(&mut w, row, phones).expect("writing to memory");
        }
        let chunk = w.into_inner().expect("writing to memory");
        if !chunk.is_empty() && !sink(chunk) {
            return Ok(written);
        }
        match rows.last() {
            Some(last) if more => page = Page::After(last.sort_key(query.sort)),
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
    fn rows_with_semicolons_are_quoted() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let row = |nickname: &str| UserRow {
            id: 1,
            identities: vec![ListedIdentity {
                id: 7,
                account_id: 1,
                appid: "wxa".into(),
                openid: "o1".into(),
                risk_rank: None,
            }],
            unionid: None,
            nickname: nickname.into(),
            gender: 0,
            country: String::new(),
            province: String::new(),
            city: String::new(),
            language: String::new(),
            created_at: t,
            last_login_at: t,
            login_count: 1,
            phone_number: None,
            phone_country_code: None,
            risk_rank: None,
            deleted_at: None,
        };
        let whole = Phones {
            form: PhoneForm::Whole,
            keys: DataKeys::new(
                crate::domain::data_keys::DataKey::from_bytes(&[1; 32]),
                vec![],
            ),
        };
        let mut w = new_writer();
        write_account(&mut w, &row("plain"), &whole).unwrap();
        write_account(&mut w, &row("a;=HYPERLINK(\"x\")"), &whole).unwrap();
        let mut two = row("after");
        two.identities.push(ListedIdentity {
            id: 8,
            account_id: 1,
            appid: "wxb".into(),
            openid: "o2".into(),
            risk_rank: Some(3),
        });
        assert_eq!(write_account(&mut w, &two, &whole).unwrap(), 2);
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert!(lines[0].starts_with("7,1,wxa,o1,,plain,"), "{text}");
        assert!(
            lines[1].starts_with(r#""7","1","wxa","o1","","a;=HYPERLINK(""x"")","0""#),
            "{text}"
        );
        assert!(lines[2].starts_with("7,1,wxa,o1,,after,"), "{text}");
        assert!(lines[3].starts_with("8,1,wxb,o2,,after,"), "{text}");
        assert!(lines[3].ends_with(",3"), "{text}");
        assert!(lines[2].ends_with(','), "unranked: {text}");
    }

    #[test]
    fn head_has_bom_and_crlf() {
        let h = head(true);
        assert!(h.starts_with(BOM));
        assert!(h.ends_with(b"login_count,phone,phone_country_code,risk_rank\r\n"));
        assert!(!head(false).starts_with(BOM));
    }
}
