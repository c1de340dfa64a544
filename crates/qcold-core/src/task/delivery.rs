//! Whose fault a failed delivery phase is: the infrastructure's (retry the delivery as it is) or
//! the task's own (someone has to change the work).
//!
//! Only delivery phases — rebase, fast-forward, push — can fail for the infrastructure: when they
//! run, the work is verified and committed on the task branch, and only moving it failed. They
//! fail for the infrastructure when git meets a lock another process holds (`index.lock`, a ref
//! lock), the network or the remote (refused, unreachable, reset, timed out, busy) or a deadline.
//! Everything else — a rebase conflict, a base that cannot fast-forward, a rejected or declined
//! push, a refused login, a missing repository, any failure of the other phases — is the task's
//! own: running the same delivery again would fail the same way.
//!
//! The input is git's error text as closeout recorded it (English: Q-COLD runs git with
//! `LC_ALL=C`); the table tests hold git's real messages.

use serde::{Deserialize, Serialize};

use super::CloseoutPhase;

/// Whose fault a closeout failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// A lock, the network, the remote or a deadline: the work is committed, delivering it
    /// again may succeed without changing it.
    Infrastructure,
    /// The task's own: the work has to change (or the operator has to step in).
    Task,
}

impl FailureKind {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureKind::Infrastructure => "infrastructure",
            FailureKind::Task => "task",
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the last success closeout of a task failed, next to its `failed_phase`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CloseoutFailure {
    /// Whose fault it is, by [`classify`].
    pub kind: FailureKind,
    /// The first line of the error (git's, for a git failure), by [`first_line`].
    pub first_line: String,
}

impl CloseoutFailure {
    /// The classified failure of `phase` with this error text.
    pub fn of(phase: CloseoutPhase, error: &str) -> Self {
        Self { kind: classify(phase, error), first_line: first_line(error) }
    }
}

/// Messages that mean the work itself has to change, checked first: a conflict in a file called
/// `Cargo.lock` is no lock, and a refused login after a connection is no network fault.
const TASK_MARKERS: &[&str] = &[
    "could not apply",
    "conflict",
    "not possible to fast-forward",
    "cannot fast-forward",
    "[rejected]",
    "hook declined",
    "permission denied",
    "authentication failed",
    "does not appear to be a git repository",
    "repository not found",
];

/// Messages of locks held by another process.
const LOCK_MARKERS: &[&str] = &[
    "index.lock",
    ".lock': file exists",
    "unable to create '",
    "cannot lock ref",
    "could not lock config file",
    "another git process seems to be running",
    "cannot take the delivery lock",
];

/// Messages of the network, the remote or a deadline.
const NETWORK_MARKERS: &[&str] = &[
    "could not resolve host",
    "could not resolve hostname",
    "temporary failure in name resolution",
    "name or service not known",
    "connection refused",
    "connection reset",
    "connection timed out",
    "timed out",
    "operation too slow",
    "network is unreachable",
    "no route to host",
    "failed to connect to",
    "couldn't connect to server",
    "the remote end hung up unexpectedly",
    "early eof",
    "rpc failed",
    "could not read from remote repository",
    "gnutls_handshake",
    "ssl_connect",
    "broken pipe",
    "returned error: 429",
    "returned error: 500",
    "returned error: 502",
    "returned error: 503",
    "returned error: 504",
    "service unavailable",
    "temporarily unavailable",
    "try again later",
    "did not finish within",
    "no space left on device",
];

/// Whose fault a failure of `phase` with git's error text `error` is.
pub fn classify(phase: CloseoutPhase, error: &str) -> FailureKind {
    if !matches!(phase, CloseoutPhase::Rebase | CloseoutPhase::FastForward | CloseoutPhase::Push) {
        return FailureKind::Task;
    }
    let text = error.to_lowercase();
    let has = |markers: &[&str]| markers.iter().any(|m| text.contains(m));
    if has(TASK_MARKERS) {
        FailureKind::Task
    } else if has(LOCK_MARKERS) || has(NETWORK_MARKERS) {
        FailureKind::Infrastructure
    } else {
        FailureKind::Task
    }
}

/// The most characters of [`first_line`].
pub const FIRST_LINE_MAX: usize = 400;

/// The first non-empty line of an error, trimmed and cut at [`FIRST_LINE_MAX`] characters.
pub fn first_line(error: &str) -> String {
    let line = error.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    match line.char_indices().nth(FIRST_LINE_MAX) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CloseoutPhase::{Commit, FastForward, PrimaryClean, Push, Rebase, Verify};
    use FailureKind::{Infrastructure as Infra, Task};

    /// Real messages of git 2.47 (`LC_ALL=C`), as closeout records them: `` `git <args>` failed
    /// in <dir>: <stderr> ``, wrapped by the rebase phase's own words.
    const INDEX_LOCK: &str = "`git merge --quiet --ff-only task/a` failed in /w/web: error: Unable to create '/w/web/.git/index.lock': File exists.\n\nAnother git process seems to be running in this repository, e.g.\nan editor opened by 'git commit'. Please make sure all processes\nare terminated then try again. If it still fails, a git process\nmay have crashed in this repository earlier:\nremove the file manually to continue.";

    fn check(phase: CloseoutPhase, error: &str, want: FailureKind) {
        assert_eq!(classify(phase, error), want, "{phase}: {error}");
    }

    #[test]
    fn locks_network_and_deadlines_in_delivery_phases_are_infrastructure() {
        let cases: &[(CloseoutPhase, &str)] = &[
            (FastForward, INDEX_LOCK),
            (
                Rebase,
                "`git fetch --quiet origin` failed in /w/web: error: cannot lock ref 'refs/remotes/origin/main': Unable to create '/w/web/.git/refs/remotes/origin/main.lock': File exists.",
            ),
            (
                Push,
                "`git push --quiet origin main:refs/heads/main` failed in /w/web: remote: error: cannot lock ref 'refs/heads/main': Unable to create '/srv/origin.git/./refs/heads/main.lock': File exists.        \nremote: \nTo ../origin.git\n ! [remote rejected] main -> main (failed to update ref)\nerror: failed to push some refs to '../origin.git'",
            ),
            (
                Push,
                "`git push --quiet origin main:refs/heads/main` failed in /w/web: fatal: unable to access 'http://127.0.0.1:1/x.git/': Failed to connect to 127.0.0.1 port 1 after 0 ms: Couldn't connect to server",
            ),
            (
                Push,
                "`git push --quiet origin main:refs/heads/main` failed in /w/web: fatal: unable to access 'https://no-such-host.invalid/x.git/': Could not resolve host: no-such-host.invalid",
            ),
            (
                Push,
                "`git push --quiet origin main:refs/heads/main` failed in /w/web: ssh: connect to host 127.0.0.1 port 1: Connection refused\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.",
            ),
            (
                Rebase,
                "`git fetch --quiet origin` failed in /w/web: error: RPC failed; curl 28 Operation too slow. Less than 1000 bytes/sec transferred the last 30 seconds\nfatal: the remote end hung up unexpectedly",
            ),
            (
                Push,
                "`git push --quiet origin main:refs/heads/main` failed in /w/web: error: RPC failed; HTTP 503 curl 22 The requested URL returned error: 503\nsend-pack: unexpected disconnect while reading sideband packet\nfatal: the remote end hung up unexpectedly",
            ),
            (
                Push,
                "`git push --quiet origin main:refs/heads/main` in /w/web did not finish within 60 s and was stopped",
            ),
            (Rebase, "cannot take the delivery lock: No space left on device (os error 28)"),
        ];
        for (phase, error) in cases {
            check(*phase, error, Infra);
        }
    }

    #[test]
    fn conflicts_rejections_and_other_phases_are_the_tasks_own() {
        let cases: &[(CloseoutPhase, &str)] = &[
            (
                Rebase,
                "rebase onto main failed and was aborted: `git rebase --quiet main` failed in /w/wt: error: could not apply 7449d69... b\nhint: Resolve all conflicts manually, mark them as resolved with\nhint: \"git add/rm <conflicted_files>\", then run \"git rebase --continue\".\nCould not apply 7449d69... b",
            ),
            (
                Rebase,
                "rebase onto main failed and was aborted: `git rebase --quiet main` failed in /w/wt: CONFLICT (content): Merge conflict in Cargo.lock",
            ),
            (
                Rebase,
                "main cannot fast-forward to refs/remotes/origin/main: `git merge --quiet --ff-only refs/remotes/origin/main` failed in /w/web: hint: Diverging branches can't be fast-forwarded, you need to either:\nfatal: Not possible to fast-forward, aborting.",
            ),
            (
                Push,
                "`git push --quiet origin main:refs/heads/main` failed in /w/web: To ../origin.git\n ! [rejected]        main -> main (non-fast-forward)\nerror: failed to push some refs to '../origin.git'",
            ),
            (
                Push,
                "`git push --quiet origin main:refs/heads/main` failed in /w/web: remote: protected branch        \nTo ../origin.git\n ! [remote rejected] main -> main (pre-receive hook declined)\nerror: failed to push some refs to '../origin.git'",
            ),
            (
                Push,
                "`git push --quiet origin main:refs/heads/main` failed in /w/web: fatal: '../nonexistent.git' does not appear to be a git repository\nfatal: Could not read from remote repository.",
            ),
            (
                Push,
                "`git push --quiet origin main:refs/heads/main` failed in /w/web: git@example.com: Permission denied (publickey).\nfatal: Could not read from remote repository.",
            ),
            (Push, "`git push --quiet origin main:refs/heads/main` failed in /w/web: something git never said"),
            (Verify, "command adapter failed; see /w/wt/.task/logs/verify.log (timed out)"),
            (PrimaryClean, "the primary checkout /w/web has 1 uncommitted change(s), first index.lock"),
            (Commit, INDEX_LOCK),
        ];
        for (phase, error) in cases {
            check(*phase, error, Task);
        }
    }

    #[test]
    fn the_first_line_is_the_first_non_empty_one_bounded() {
        assert_eq!(
            first_line(INDEX_LOCK),
            "`git merge --quiet --ff-only task/a` failed in /w/web: error: Unable to create '/w/web/.git/index.lock': File exists."
        );
        assert_eq!(first_line("\n  \n  fatal: gone  \nmore"), "fatal: gone");
        assert_eq!(first_line(""), "");
        let long = "é".repeat(FIRST_LINE_MAX + 10);
        assert_eq!(first_line(&long).chars().count(), FIRST_LINE_MAX + 1);
        let failure = CloseoutFailure::of(FastForward, INDEX_LOCK);
        assert_eq!(failure.kind, Infra);
        assert!(failure.first_line.ends_with("index.lock': File exists."));
        assert_eq!(serde_json::to_string(&FailureKind::Infrastructure).unwrap(), "\"infrastructure\"");
    }
}
