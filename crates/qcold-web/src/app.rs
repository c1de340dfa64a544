//! The app: loads the state into the [`Fleet`] store, follows the event stream, and routes to
//! one page per path under a shared header.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use crate::api;
use crate::header::{Header, Link};
use crate::pages::agents::AgentsPage;
use crate::pages::inbox::Inbox;
use crate::pages::overview::Overview;
use crate::pages::queue::QueuePage;
use crate::pages::terminals::{TerminalPage, TerminalsPage};
use crate::pages::{task::TaskPage, tasks::TasksPage};
use crate::store::Fleet;
use crate::token::{Access, SessionToken};

/// The whole dashboard.
#[component]
pub(crate) fn App() -> impl IntoView {
    let fleet = Fleet::new();
    let (link, set_link) = signal(Link::Connecting);
    let telegram = crate::telegram::detect();
    if let Some(launch) = &telegram {
        crate::telegram::start(launch);
    }
    let token = SessionToken::from_session(telegram.map(|l| l.init_data));

    leptos::task::spawn_local(async move {
        match api::fetch_state(token).await {
            Ok(loaded) => fleet.load(loaded),
            Err(err) => set_link.set(Link::Broken(err.to_string())),
        }
        let result = api::follow_events(move |event| {
            set_link.set(Link::Live);
            fleet.apply(event);
        })
        .await;
        if let Err(err) = result {
            set_link.set(Link::Broken(err));
        }
    });

    let access = Access { token, writes_need_token: fleet.writes_need_token() };

    view! {
        <Router>
            <Header build_id=fleet.build_id() link=link access=access />
            <main>
                <Routes fallback=|| view! { <p class="empty" data-testid="not-found">"No such page."</p> }>
                    <Route path=path!("/") view=move || view! { <Inbox fleet=fleet access=access /> } />
                    <Route path=path!("/node") view=move || view! { <Overview repositories=fleet.repositories() node=fleet.node() token=token /> } />
                    <Route path=path!("/agents") view=move || view! { <AgentsPage fleet=fleet access=access /> } />
                    <Route path=path!("/queue") view=move || view! { <QueuePage fleet=fleet access=access /> } />
                    <Route path=path!("/tasks") view=move || view! { <TasksPage live=fleet.tasks repositories=fleet.repositories() access=access /> } />
                    <Route path=path!("/tasks/:repo/:name") view=move || view! { <TaskPage live=fleet.tasks access=access /> } />
                    <Route path=path!("/terminals") view=move || view! { <TerminalsPage fleet=fleet access=access /> } />
                    <Route path=path!("/terminals/:agent_id") view=move || view! { <TerminalPage fleet=fleet access=access /> } />
                </Routes>
            </main>
        </Router>
    }
}
