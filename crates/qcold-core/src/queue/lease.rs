//! Leases and fencing: which worker owns an item, and whether a write may land.
//!
//! A worker holds a lease per item (owner, epoch, expiry). Taking a lease — fresh or reclaimed
//! after expiry — bumps the epoch; every write a worker makes carries the epoch it was granted,
//! and is refused once the epoch has moved on. So a stale worker (paused, partitioned, restarted)
//! can never change an item another worker now owns.

use serde::{Deserialize, Serialize};

/// How long a lease lasts without a heartbeat, seconds.
pub const LEASE_TTL_SECS: i64 = 120;
/// The most time between heartbeats, seconds.
pub const HEARTBEAT_SECS: i64 = 5;

/// The stored lease of an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Lease {
    /// Who holds it; `None` when released.
    pub owner: Option<String>,
    /// Bumped on every grant.
    pub epoch: u64,
    /// When it lapses, Unix seconds.
    pub expires_at: i64,
}

/// The result of asking for a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Grant {
    /// Granted with this epoch; `reclaimed` when an expired owner was displaced.
    Acquired {
        /// The new epoch; every write must carry it.
        epoch: u64,
        /// Whether a previous owner's lease had expired.
        reclaimed: bool,
    },
    /// Another owner holds an unexpired lease.
    Busy {
        /// The holder.
        owner: String,
        /// When its lease lapses.
        expires_at: i64,
    },
}

/// Decides a lease request by `owner` at `now`. `holder_alive` says whether the current holder
/// still exists: a holder known to be dead (a daemon killed with `kill -9`) is displaced at once
/// instead of after its lease lapses, so a restarted daemon re-attaches without waiting out the
/// TTL. The caller stores the new lease (`epoch`, `owner`, `now + LEASE_TTL_SECS`) when acquired,
/// in the same transaction.
pub fn acquire(current: Option<&Lease>, owner: &str, now: i64, holder_alive: bool) -> Grant {
    match current {
        None => Grant::Acquired { epoch: 1, reclaimed: false },
        Some(Lease { owner: Some(holder), expires_at, .. }) if *expires_at > now && holder != owner && holder_alive => {
            Grant::Busy { owner: holder.clone(), expires_at: *expires_at }
        }
        Some(lease) => {
            Grant::Acquired { epoch: lease.epoch + 1, reclaimed: lease.owner.as_deref().is_some_and(|h| h != owner) }
        }
    }
}

/// Whether a write carrying `epoch` may land on an item whose lease is `current`.
pub fn may_write(current: Option<&Lease>, epoch: u64) -> bool {
    current.is_some_and(|lease| lease.epoch == epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(owner: Option<&str>, epoch: u64, expires_at: i64) -> Lease {
        Lease { owner: owner.map(str::to_owned), epoch, expires_at }
    }

    #[test]
    fn grants() {
        assert_eq!(acquire(None, "w1", 0, false), Grant::Acquired { epoch: 1, reclaimed: false });
        let held = lease(Some("w1"), 3, 200);
        assert_eq!(acquire(Some(&held), "w2", 100, true), Grant::Busy { owner: "w1".into(), expires_at: 200 });
        assert_eq!(
            acquire(Some(&held), "w2", 100, false),
            Grant::Acquired { epoch: 4, reclaimed: true },
            "a dead holder is displaced before its lease lapses"
        );
        assert_eq!(
            acquire(Some(&held), "w1", 100, true),
            Grant::Acquired { epoch: 4, reclaimed: false },
            "the holder renews"
        );
        assert_eq!(
            acquire(Some(&held), "w2", 200, true),
            Grant::Acquired { epoch: 4, reclaimed: true },
            "an expired lease is reclaimed"
        );
        assert_eq!(acquire(Some(&lease(None, 7, 0)), "w2", 100, false), Grant::Acquired { epoch: 8, reclaimed: false });
    }

    #[test]
    fn stale_epochs_are_fenced_off() {
        let now = lease(Some("w2"), 4, 300);
        assert!(may_write(Some(&now), 4));
        assert!(!may_write(Some(&now), 3), "the displaced worker's writes are refused");
        assert!(!may_write(None, 1));
    }
}
