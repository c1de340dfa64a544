//! Validating newtypes for every identifier that names a stored thing.
//!
//! An identifier ends up in file names, git branch names (`task/<slug>`), tmux session names and
//! URLs, so it is restricted to a charset that is safe in all of them. Validation happens once,
//! at the edge (`FromStr`, `TryFrom<String>`, serde); code that holds a `TaskSlug` never checks
//! again.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which kind of identifier failed validation; used to word the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// A registered repository ([`RepoId`]).
    Repository,
    /// A task slug ([`TaskSlug`]).
    TaskSlug,
    /// A queue run ([`RunId`]).
    Run,
    /// A queue item ([`ItemId`]).
    Item,
    /// A queue tab ([`TabId`]).
    Tab,
    /// A managed agent ([`AgentId`]).
    Agent,
    /// A registered agent command ([`CommandName`]).
    Command,
}

impl IdKind {
    /// The longest value accepted for this kind, in characters (all ASCII).
    pub const fn max_len(self) -> usize {
        match self {
            IdKind::Repository | IdKind::TaskSlug => 64,
            IdKind::Run | IdKind::Item | IdKind::Tab | IdKind::Agent => 128,
            IdKind::Command => 64,
        }
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Repository => "repository id",
            IdKind::TaskSlug => "task slug",
            IdKind::Run => "run id",
            IdKind::Item => "item id",
            IdKind::Tab => "tab id",
            IdKind::Agent => "agent id",
            IdKind::Command => "agent command name",
        })
    }
}

/// Why a string is not a valid identifier. Each variant is one rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The value is empty.
    #[error("{kind} must not be empty")]
    Empty {
        /// The kind of identifier.
        kind: IdKind,
    },
    /// The value is longer than [`IdKind::max_len`].
    #[error("{kind} {value:?} is {len} characters long; at most {max} are allowed")]
    TooLong {
        /// The kind of identifier.
        kind: IdKind,
        /// The rejected value.
        value: String,
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The value starts with `-`, which command lines would read as an option.
    #[error("{kind} {value:?} must not start with '-'")]
    LeadingDash {
        /// The kind of identifier.
        kind: IdKind,
        /// The rejected value.
        value: String,
    },
    /// The value holds a character outside `[A-Za-z0-9_-]`.
    #[error(
        "{kind} {value:?} contains {ch:?} at position {position}; only ASCII letters, digits, '-' and '_' are allowed"
    )]
    InvalidChar {
        /// The kind of identifier.
        kind: IdKind,
        /// The rejected value.
        value: String,
        /// The first offending character.
        ch: char,
        /// Its position, counted in characters from 0.
        position: usize,
    },
}

/// `n` in base 36 (digits, then lowercase letters): a short, id-safe spelling of a Unix time for
/// generated ids (`run-tp0jry`).
pub fn base36(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(char::from_digit(u32::try_from(n % 36).unwrap_or(0), 36).unwrap_or('0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().collect()
}

/// Candidates for a generated id: `stem`, then `stem-<first>`, `stem-<first + 1>`, …; the caller
/// takes the first one not in use.
pub fn numbered(stem: &str, first: u32) -> impl Iterator<Item = String> + '_ {
    std::iter::once(stem.to_owned()).chain((first..).map(move |n| format!("{stem}-{n}")))
}

/// Checks `value` against the identifier rules for `kind`.
///
/// The rules, in the order they are checked: not empty; at most [`IdKind::max_len`] characters;
/// only ASCII letters, digits, `-` and `_`; no leading `-`.
pub fn validate(kind: IdKind, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    let len = value.chars().count();
    if len > kind.max_len() {
        return Err(IdError::TooLong { kind, value: value.to_owned(), len, max: kind.max_len() });
    }
    if let Some((position, ch)) =
        value.chars().enumerate().find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(IdError::InvalidChar { kind, value: value.to_owned(), ch, position });
    }
    if value.starts_with('-') {
        return Err(IdError::LeadingDash { kind, value: value.to_owned() });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The kind of identifier this type holds.
            pub const KIND: IdKind = $kind;

            /// Validates and wraps `value`.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                validate(Self::KIND, &value)?;
                Ok(Self(value))
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// The operator's name for a registered repository, e.g. `web-app`.
    RepoId,
    IdKind::Repository
);
id_type!(
    /// The name of a task; its branch is `task/<slug>`. At most 64 characters.
    TaskSlug,
    IdKind::TaskSlug
);
id_type!(
    /// A queue run.
    RunId,
    IdKind::Run
);
id_type!(
    /// One item (prompt) of a queue run.
    ItemId,
    IdKind::Item
);
id_type!(
    /// A queue tab, which isolates one active run.
    TabId,
    IdKind::Tab
);
id_type!(
    /// A managed agent process or terminal.
    AgentId,
    IdKind::Agent
);
id_type!(
    /// The name of a registered agent command, e.g. `codex` or `c1`.
    CommandName,
    IdKind::Command
);

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    #[test]
    fn generated_id_parts() {
        assert_eq!(
            (base36(0), base36(35), base36(36), base36(1_795_535_134)),
            ("0".into(), "z".into(), "10".into(), "tp0jry".into())
        );
        assert_eq!(numbered("run-x", 2).take(3).collect::<Vec<_>>(), ["run-x", "run-x-2", "run-x-3"]);
    }

    fn check(kind: IdKind, value: &str, expect: Expect) {
        let actual = match validate(kind, value) {
            Ok(()) => "ok".to_owned(),
            Err(err) => err.to_string(),
        };
        expect.assert_eq(&actual);
    }

    #[test]
    fn slug_rules() {
        check(IdKind::TaskSlug, "fix-login_42", expect!["ok"]);
        check(IdKind::TaskSlug, "A", expect!["ok"]);
        check(IdKind::TaskSlug, "_lead", expect!["ok"]);
        check(IdKind::TaskSlug, "", expect!["task slug must not be empty"]);
        check(IdKind::TaskSlug, "-x", expect![[r#"task slug "-x" must not start with '-'"#]]);
        check(
            IdKind::TaskSlug,
            "a b",
            expect![[
                r#"task slug "a b" contains ' ' at position 1; only ASCII letters, digits, '-' and '_' are allowed"#
            ]],
        );
        check(
            IdKind::TaskSlug,
            "feature/x",
            expect![[
                r#"task slug "feature/x" contains '/' at position 7; only ASCII letters, digits, '-' and '_' are allowed"#
            ]],
        );
        check(
            IdKind::TaskSlug,
            "naïve",
            expect![[
                r#"task slug "naïve" contains 'ï' at position 2; only ASCII letters, digits, '-' and '_' are allowed"#
            ]],
        );
        check(IdKind::TaskSlug, &"a".repeat(64), expect!["ok"]);
        check(
            IdKind::TaskSlug,
            &"a".repeat(65),
            expect![[
                r#"task slug "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" is 65 characters long; at most 64 are allowed"#
            ]],
        );
    }

    #[test]
    fn other_kinds_share_the_charset_with_their_own_limits() {
        check(
            IdKind::Repository,
            "web.app",
            expect![[
                r#"repository id "web.app" contains '.' at position 3; only ASCII letters, digits, '-' and '_' are allowed"#
            ]],
        );
        check(IdKind::Run, &"r".repeat(128), expect!["ok"]);
        check(IdKind::Agent, "", expect!["agent id must not be empty"]);
        check(IdKind::Tab, "-t", expect![[r#"tab id "-t" must not start with '-'"#]]);
        check(IdKind::Item, "item_1", expect!["ok"]);
    }

    #[test]
    fn serde_validates_on_the_way_in() {
        let ok: RepoId = serde_json::from_str("\"web\"").unwrap();
        assert_eq!(ok.as_str(), "web");
        let err = serde_json::from_str::<RepoId>("\"no way\"").unwrap_err();
        assert!(err.to_string().contains("repository id \"no way\" contains ' '"), "{err}");
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"web\"");
    }
}
