//! The Q-COLD dashboard: a Leptos client-side app that renders the daemon's state and keeps it
//! current from `/api/events`.
//!
//! Only [`api`] talks to the network; components take signals and render. Anything that decides
//! what the state is (applying an event) lives in qcold-core.

// `#[component]` re-emits items as `pub`, which a binary crate cannot export anyway.
#![allow(unreachable_pub)]

mod api;
mod queue;
mod view;

fn main() {
    leptos::mount::mount_to_body(view::App);
}
