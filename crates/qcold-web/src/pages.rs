//! The dashboard's pages, one per route and file.

pub(crate) mod overview;
pub(crate) mod queue;
pub(crate) mod terminals;
