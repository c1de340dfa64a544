//! The dashboard's pages, one per route and file.

pub(crate) mod agents;
pub(crate) mod inbox;
pub(crate) mod overview;
pub(crate) mod queue;
pub(crate) mod task;
pub(crate) mod tasks;
pub(crate) mod terminals;
