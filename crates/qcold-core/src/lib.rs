//! The shared vocabulary of Q-COLD: identifiers, models, wire types and pure decisions.
//!
//! `qcold-core` is compiled twice: natively for the daemon (`qcold-server`) and the `qcold` CLI,
//! and to `wasm32-unknown-unknown` for the Leptos dashboard (`qcold-web`). Every type that crosses
//! a process boundary — HTTP JSON bodies, server-sent events, the node snapshot, queue package
//! files — is defined here once, so the three programs cannot drift apart.
//!
//! The crate does no IO and reads no clock: functions that depend on time take `now` (Unix
//! seconds) as an argument. That keeps every decision a plain function that can be table-tested.
//!
//! # Map
//!
//! - [`ids`]: validating newtypes ([`RepoId`], [`TaskSlug`], [`RunId`], [`ItemId`], [`TabId`],
//!   [`AgentId`]) with one error type, [`IdError`], that names the broken rule.
//! - [`queue`]: queue packages, graph normalisation, dedupe, readiness and admission decisions.
//! - [`repo`]: the registered [`Repository`], its [`AdapterKind`] and [`BranchName`].
//! - [`task`]: task records, their [`TaskStatus`], closeout outcomes and phases.
//! - [`taskenv`]: the `.task/task.env` file format.
//! - [`snapshot`]: the node snapshot protocol, version [`snapshot::PROTOCOL_VERSION`].
//! - [`agent`]: managed agents, terminal keys and selector matching.
//! - [`api`]: request and response bodies of the daemon's HTTP API.
//! - [`event`]: the [`Event`] enum pushed on `/api/events`.
//! - [`delta`]: the events between two values of a cached collection.
//! - [`terminal`]: the messages of an agent's live terminal socket.
//! - [`health`]: which leftover worktrees `qcold task health` removes, and why.
//! - [`inbox`]: what needs the operator, decided from the state a client holds ([`inbox::needs_you`]).
//! - [`units`]: human formatting of byte counts and durations used by the CLI and the dashboard.
//!
//! # Example
//!
//! ```
//! use qcold_core::{TaskSlug, TaskStatus};
//!
//! let slug: TaskSlug = "fix-login_42".parse().unwrap();
//! assert_eq!(slug.as_str(), "fix-login_42");
//! assert!("-oops".parse::<TaskSlug>().is_err());
//!
//! let status: TaskStatus = serde_json::from_str("\"closed:success\"").unwrap();
//! assert!(status.is_terminal());
//! ```

#![warn(missing_docs)]

pub mod agent;
pub mod api;
pub mod delta;
pub mod event;
pub mod health;
pub mod ids;
pub mod inbox;
pub mod queue;
pub mod repo;
pub mod snapshot;
pub mod task;
pub mod taskenv;
pub mod terminal;
pub mod units;

pub use event::Event;
pub use ids::{AgentId, CommandName, IdError, IdKind, ItemId, RepoId, RunId, TabId, TaskSlug};
pub use repo::{AdapterKind, BranchName, Repository, RepositoryList};
pub use snapshot::{BlockStatus, NodeSnapshot};
pub use task::TaskStatus;
