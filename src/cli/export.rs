//! `wxlogin export`: the user CSV to a file or standard output.

use std::io::Write;

use anyhow::Context;

use super::args::ExportArgs;
use crate::db::DbPool;
use crate::service::export;

/// Writes the CSV. With `--out`, into a temporary file beside the target,
/// renamed at the end, so that a failed export never leaves a half-written
/// file under the real name.
pub fn run(pool: &DbPool, args: ExportArgs) -> anyhow::Result<()> {
    // The command line's days are UTC days, as its --help says.
    let query = args.filter.to_query(chrono_tz::UTC)?;
    let keys = args.keys.resolve(false)?;
    let (mut out, temp): (Box<dyn Write>, Option<tempfile::NamedTempFile>) = match &args.out {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let file = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("cannot write in {}", dir.display()))?;
            (
                Box::new(std::io::BufWriter::new(file.reopen()?)),
                Some(file),
            )
        }
        None => (
            Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            None,
        ),
    };
    out.write_all(&export::head(!args.no_bom))?;
    let mut failure = None;
    let phones = export::Phones {
        form: if args.export_phone {
            export::PhoneForm::Whole
        } else {
            export::PhoneForm::Masked
        },
        keys,
    };
    let rows = export::write_rows(pool, &query, &phones, |chunk| match out.write_all(&chunk) {
        Ok(()) => true,
        Err(e) => {
            failure = Some(e);
            false
        }
    })?;
    if let Some(e) = failure {
        return Err(e).context("cannot write the CSV");
    }
    out.flush()?;
    drop(out);
    if let (Some(temp), Some(path)) = (temp, &args.out) {
        temp.persist(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {rows} rows (one per identity) to {}", path.display());
    }
    Ok(())
}
