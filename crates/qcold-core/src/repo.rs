//! The repository model: what the operator registers and how Q-COLD validates its changes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::RepoId;

/// How Q-COLD asks a repository "is this change valid?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum AdapterKind {
    /// The repository's own xtask, run as `cargo run --manifest-path <manifest> -- verify`.
    XtaskProcess,
    /// A command line given at registration (`--verify-command`), run without a shell.
    Command,
}

impl AdapterKind {
    /// Every adapter, in the order help texts list them.
    pub const ALL: [AdapterKind; 2] = [AdapterKind::XtaskProcess, AdapterKind::Command];

    /// The adapter's name as written on the command line and in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            AdapterKind::XtaskProcess => "xtask-process",
            AdapterKind::Command => "command",
        }
    }
}

impl fmt::Display for AdapterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`AdapterKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown adapter {0:?}; expected one of: xtask-process, command")]
pub struct UnknownAdapter(pub String);

impl FromStr for AdapterKind {
    type Err = UnknownAdapter;
    fn from_str(s: &str) -> Result<Self, UnknownAdapter> {
        AdapterKind::ALL.into_iter().find(|kind| kind.as_str() == s).ok_or_else(|| UnknownAdapter(s.to_owned()))
    }
}

/// A git branch name, checked against the parts of `git check-ref-format` that matter for
/// names an operator types: no whitespace or control characters, none of `~^:?*[\`, no `..`,
/// no `@{`, no leading `-` or `/`, no trailing `/`, `.` or `.lock`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(try_from = "String", into = "String")]
pub struct BranchName(String);

/// Why a string is not a usable branch name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("branch name {value:?} is invalid: {reason}")]
pub struct BranchNameError {
    /// The rejected value.
    pub value: String,
    /// The broken rule, in words.
    pub reason: &'static str,
}

impl BranchName {
    /// Validates and wraps `value`.
    pub fn new(value: impl Into<String>) -> Result<Self, BranchNameError> {
        let value = value.into();
        let reason = if value.is_empty() {
            Some("it is empty")
        } else if value.len() > 200 {
            Some("it is longer than 200 bytes")
        } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Some("it contains whitespace or a control character")
        } else if value.chars().any(|c| "~^:?*[\\".contains(c)) {
            Some("it contains one of ~ ^ : ? * [ \\")
        } else if value.contains("..") || value.contains("@{") || value.contains("//") {
            Some("it contains '..', '@{' or '//'")
        } else if value.starts_with('-') || value.starts_with('/') {
            Some("it starts with '-' or '/'")
        } else if value.ends_with('/') || value.ends_with('.') || value.ends_with(".lock") {
            Some("it ends with '/', '.' or '.lock'")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(BranchNameError { value, reason }),
            None => Ok(Self(value)),
        }
    }

    /// The branch name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for BranchName {
    type Err = BranchNameError;
    fn from_str(s: &str) -> Result<Self, BranchNameError> {
        Self::new(s)
    }
}

impl TryFrom<String> for BranchName {
    type Error = BranchNameError;
    fn try_from(s: String) -> Result<Self, BranchNameError> {
        Self::new(s)
    }
}

impl From<BranchName> for String {
    fn from(b: BranchName) -> String {
        b.0
    }
}

impl fmt::Display for BranchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A registered repository. Paths are absolute and canonical (the store only accepts
/// canonicalised paths), kept as strings so the type also lives in the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Repository {
    /// The operator's name for it.
    pub id: RepoId,
    /// The primary checkout.
    pub root: String,
    /// How changes are validated.
    pub adapter: AdapterKind,
    /// The xtask manifest, for [`AdapterKind::XtaskProcess`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xtask_manifest: Option<String>,
    /// The verify command line, for [`AdapterKind::Command`]; `None` means "unverified".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_command: Option<String>,
    /// The branch tasks start from and deliver to.
    pub default_branch: BranchName,
    /// Where task worktrees go; `None` means `<root's parent>/WT/<root's name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree_root: Option<String>,
    /// Registration time, Unix seconds.
    pub created_at: i64,
    /// Last change, Unix seconds.
    pub updated_at: i64,
}

/// All registered repositories and which one is active: the body of `repo list --json`, of
/// `state.repositories` and of the `repositories` event.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RepositoryList {
    /// The active repository, if one is set.
    #[serde(default)]
    pub active: Option<RepoId>,
    /// Every registered repository, ordered by id.
    #[serde(default)]
    pub repositories: Vec<Repository>,
}

impl RepositoryList {
    /// The active repository's record, if one is set and still registered.
    pub fn active_repository(&self) -> Option<&Repository> {
        let active = self.active.as_ref()?;
        self.repositories.iter().find(|r| &r.id == active)
    }
}

/// An adapter option that does not belong to the chosen adapter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterOptionError {
    /// `--verify-command` was given for an xtask adapter.
    #[error(
        "--verify-command only applies to the command adapter; the xtask-process adapter runs the xtask's verify lane"
    )]
    VerifyCommandWithXtask,
    /// `--xtask-manifest` was given for a command adapter.
    #[error("--xtask-manifest only applies to the xtask-process adapter")]
    ManifestWithCommand,
    /// An xtask adapter has no manifest.
    #[error(
        "the xtask-process adapter needs an xtask manifest: pass --xtask-manifest or add xtask/Cargo.toml to the repository"
    )]
    MissingManifest,
}

/// Checks that the adapter options given at registration fit the adapter.
pub fn check_adapter_options(
    adapter: AdapterKind,
    has_manifest: bool,
    has_verify_command: bool,
) -> Result<(), AdapterOptionError> {
    match adapter {
        AdapterKind::XtaskProcess if has_verify_command => Err(AdapterOptionError::VerifyCommandWithXtask),
        AdapterKind::XtaskProcess if !has_manifest => Err(AdapterOptionError::MissingManifest),
        AdapterKind::Command if has_manifest => Err(AdapterOptionError::ManifestWithCommand),
        AdapterKind::XtaskProcess | AdapterKind::Command => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check_branch(value: &str, expect: Expect) {
        let actual = match BranchName::new(value) {
            Ok(b) => format!("ok {b}"),
            Err(err) => err.to_string(),
        };
        expect.assert_eq(&actual);
    }

    #[test]
    fn branch_names() {
        check_branch("main", expect!["ok main"]);
        check_branch("release/1.2", expect!["ok release/1.2"]);
        check_branch("", expect![[r#"branch name "" is invalid: it is empty"#]]);
        check_branch(
            "a b",
            expect![[r#"branch name "a b" is invalid: it contains whitespace or a control character"#]],
        );
        check_branch("a..b", expect![[r#"branch name "a..b" is invalid: it contains '..', '@{' or '//'"#]]);
        check_branch("-x", expect![[r#"branch name "-x" is invalid: it starts with '-' or '/'"#]]);
        check_branch("x.lock", expect![[r#"branch name "x.lock" is invalid: it ends with '/', '.' or '.lock'"#]]);
        check_branch("x:y", expect![[r#"branch name "x:y" is invalid: it contains one of ~ ^ : ? * [ \"#]]);
    }

    #[test]
    fn adapters_parse_by_name_only() {
        assert_eq!("command".parse::<AdapterKind>(), Ok(AdapterKind::Command));
        assert_eq!("xtask-process".parse::<AdapterKind>(), Ok(AdapterKind::XtaskProcess));
        expect![[r#"unknown adapter "make"; expected one of: xtask-process, command"#]]
            .assert_eq(&"make".parse::<AdapterKind>().unwrap_err().to_string());
        assert_eq!(serde_json::to_string(&AdapterKind::XtaskProcess).unwrap(), "\"xtask-process\"");
    }

    #[test]
    fn adapter_options() {
        use AdapterKind::*;
        let cases = [
            (XtaskProcess, true, false, "ok"),
            (XtaskProcess, false, false, "the xtask-process adapter needs an xtask manifest"),
            (XtaskProcess, true, true, "--verify-command only applies to the command adapter"),
            (Command, false, false, "ok"),
            (Command, false, true, "ok"),
            (Command, true, false, "--xtask-manifest only applies to the xtask-process adapter"),
        ];
        for (adapter, manifest, verify, want) in cases {
            let got = match check_adapter_options(adapter, manifest, verify) {
                Ok(()) => "ok".to_owned(),
                Err(e) => e.to_string(),
            };
            assert!(got.starts_with(want), "{adapter} manifest={manifest} verify={verify}: {got}");
        }
    }
}
