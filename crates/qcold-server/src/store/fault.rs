//! [`Fault`]: a store failure that is the machine's condition, not a bug — another writer
//! holding the database past the busy timeout, or a full disk — told apart in any error chain.

use rusqlite::ffi::ErrorCode;

use super::StoreError;

/// A condition of the store an operator can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Another connection held the write lock for longer than the busy timeout (`SQLITE_BUSY`,
    /// `SQLITE_LOCKED`); the operation changed nothing and may simply be tried again.
    Busy,
    /// The disk is full (`SQLITE_FULL`, `ENOSPC`).
    Full,
}

/// The fault somewhere in `err`'s chain, if there is one. Each link is looked at as the error
/// types that carry one — [`StoreError`], [`rusqlite::Error`], SQLite's own error (the source of
/// a `SqliteFailure`, which a `#[error(transparent)]` wrapper exposes instead of itself) and
/// [`std::io::Error`] — so a wrapper of any depth still shows it.
pub fn fault(err: &anyhow::Error) -> Option<Fault> {
    err.chain().find_map(|link| {
        if let Some(StoreError::Sqlite(err)) = link.downcast_ref::<StoreError>() {
            return err.sqlite_error_code().and_then(of_code);
        }
        if let Some(StoreError::StateDir { source, .. }) = link.downcast_ref::<StoreError>() {
            return of_io(source);
        }
        if let Some(err) = link.downcast_ref::<rusqlite::Error>() {
            return err.sqlite_error_code().and_then(of_code);
        }
        if let Some(err) = link.downcast_ref::<rusqlite::ffi::Error>() {
            return of_code(err.code);
        }
        link.downcast_ref::<std::io::Error>().and_then(of_io)
    })
}

fn of_code(code: ErrorCode) -> Option<Fault> {
    match code {
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Some(Fault::Busy),
        ErrorCode::DiskFull => Some(Fault::Full),
        _ => None,
    }
}

fn of_io(err: &std::io::Error) -> Option<Fault> {
    (err.kind() == std::io::ErrorKind::StorageFull).then_some(Fault::Full)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: std::ffi::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    /// A wrapper like the engines' error enums, forwarding its source as `#[error(transparent)]`.
    #[derive(Debug, thiserror::Error)]
    enum Wrapper {
        #[error(transparent)]
        Store(#[from] StoreError),
    }

    #[test]
    fn faults_are_found_however_deep() {
        let busy = || StoreError::Sqlite(sqlite(rusqlite::ffi::SQLITE_BUSY));
        let table: Vec<(anyhow::Error, Option<Fault>)> = vec![
            (busy().into(), Some(Fault::Busy)),
            (Wrapper::from(busy()).into(), Some(Fault::Busy)),
            (anyhow::Error::from(busy()).context("cannot create the tab"), Some(Fault::Busy)),
            (sqlite(rusqlite::ffi::SQLITE_LOCKED).into(), Some(Fault::Busy)),
            (Wrapper::from(StoreError::Sqlite(sqlite(rusqlite::ffi::SQLITE_FULL))).into(), Some(Fault::Full)),
            (std::io::Error::from_raw_os_error(28).into(), Some(Fault::Full)),
            (sqlite(rusqlite::ffi::SQLITE_CONSTRAINT).into(), None),
            (StoreError::UnknownTask("x".into()).into(), None),
            (anyhow::anyhow!("database is locked"), None),
        ];
        for (err, want) in table {
            assert_eq!(fault(&err), want, "{err:#}");
        }
    }
}
