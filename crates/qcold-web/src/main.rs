//! The Q-COLD dashboard: a Leptos client-side app that renders the daemon's state and keeps it
//! current from `/api/events`, one page per route under [`pages`].
//!
//! Only [`api`] talks to the network; [`store`] holds the state as keyed signals patched from
//! the event stream; pages and components take signals and render. Anything
//! that decides what the state is (applying an event) lives in qcold-core.

// `#[component]` re-emits items as `pub`, which a binary crate cannot export anyway.
#![allow(unreachable_pub)]

mod api;
mod app;
mod header;
mod pages;
mod store;
mod telegram;
mod token;

fn main() {
    leptos::mount::mount_to_body(app::App);
}
