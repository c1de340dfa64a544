//! How long a git command may run: one deadline for local commands, a shorter one for commands
//! that talk to a remote, and the transport options that make a stuck remote fail by itself.
//!
//! The limits are a process-wide setting, written once at start-up from [`crate::Config`]
//! ([`init`]) and only read afterwards. They are not threaded through the git functions as an
//! argument because those functions are called from some sixty places across the task flow,
//! repositories, status and the HTTP reads, none of which has any other use for them: a
//! parameter would change every one of those signatures for a value that never varies within a
//! process. A value that is set once before any git runs and never changes is configuration, not
//! the mutable shared state the style guide forbids; until [`init`] runs (unit tests), the
//! defaults apply.

use std::sync::OnceLock;
use std::time::Duration;

/// The deadlines of git commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GitLimits {
    /// Every local command (status, worktree add, rebase, commit, …) finishes within this or is
    /// killed with its process group; generous, as a large repository's first status is slow.
    pub local: Duration,
    /// Every command that talks to a remote (fetch, push) finishes within this or is killed;
    /// its transport also gives up on its own when the remote stalls (see [`remote_options`]).
    pub remote: Duration,
}

impl Default for GitLimits {
    fn default() -> Self {
        Self { local: Duration::from_secs(600), remote: Duration::from_secs(120) }
    }
}

static LIMITS: OnceLock<GitLimits> = OnceLock::new();

/// Sets the process's git limits; the first call wins (a process has one configuration), later
/// calls are ignored.
pub fn init(limits: GitLimits) {
    let _ = LIMITS.set(limits);
}

/// The process's git limits.
pub fn current() -> GitLimits {
    LIMITS.get().copied().unwrap_or_default()
}

/// The `-c` options placed before the subcommand of a remote command: HTTP transfers slower than
/// 1000 bytes/s for a while are abandoned, and ssh connects, notices a dead peer and never asks
/// for a password within the deadline. `core.sshCommand` yields to an operator's own
/// `GIT_SSH_COMMAND` by git's own precedence, so an operator's ssh set-up is never overridden.
pub fn remote_options(remote: Duration) -> Vec<String> {
    let secs = remote.as_secs().max(1);
    let low_speed = secs.min(30);
    let connect = secs.min(30);
    let alive = (secs / 4).clamp(1, 15);
    vec![
        "-c".into(),
        "http.lowSpeedLimit=1000".into(),
        "-c".into(),
        format!("http.lowSpeedTime={low_speed}"),
        "-c".into(),
        format!(
            "core.sshCommand=ssh -o ConnectTimeout={connect} -o ServerAliveInterval={alive} \
             -o ServerAliveCountMax=3 -o BatchMode=yes"
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_options_scale_with_the_deadline() {
        let short = remote_options(Duration::from_secs(8)).join(" ");
        assert!(short.contains("http.lowSpeedTime=8"), "{short}");
        assert!(short.contains("ConnectTimeout=8 -o ServerAliveInterval=2 -o ServerAliveCountMax=3"), "{short}");
        assert!(short.contains("BatchMode=yes") && short.contains("http.lowSpeedLimit=1000"), "{short}");
        let long = remote_options(Duration::from_secs(600)).join(" ");
        assert!(long.contains("http.lowSpeedTime=30") && long.contains("ServerAliveInterval=15"), "{long}");
        let zero = remote_options(Duration::ZERO).join(" ");
        assert!(zero.contains("ConnectTimeout=1 "), "{zero}");
    }
}
