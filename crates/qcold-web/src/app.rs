//! The app: loads the state, follows the event stream, and routes to one page per path under a
//! shared header.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;
use qcold_core::api::StateResponse;

use crate::api;
use crate::header::{Header, Link};
use crate::pages::agents::AgentsPage;
use crate::pages::inbox::Inbox;
use crate::pages::overview::Overview;
use crate::pages::queue::QueuePage;
use crate::pages::terminals::{TerminalPage, TerminalsPage};
use crate::pages::{task::TaskPage, tasks::TasksPage};
use crate::token::{Access, SessionToken};

/// The whole dashboard.
#[component]
pub(crate) fn App() -> impl IntoView {
    let (state, set_state) = signal::<Option<StateResponse>>(None);
    let (link, set_link) = signal(Link::Connecting);
    let token = SessionToken::from_session();

    leptos::task::spawn_local(async move {
        match api::fetch_state(token).await {
            Ok(loaded) => set_state.set(Some(loaded)),
            Err(err) => set_link.set(Link::Broken(err.to_string())),
        }
        let result = api::follow_events(move |event| {
            set_link.set(Link::Live);
            set_state.update(|current| match current {
                Some(current) => current.apply(event),
                None => {
                    if let qcold_core::Event::State(full) = event {
                        *current = Some(*full);
                    }
                }
            });
        })
        .await;
        if let Err(err) = result {
            set_link.set(Link::Broken(err));
        }
    });

    let repositories = Memo::new(move |_| state.with(|s| s.as_ref().map(|s| s.repositories.clone())));
    let node = Memo::new(move |_| state.with(|s| s.as_ref().map(|s| s.node.clone())));
    let queue = Memo::new(move |_| state.with(|s| s.as_ref().map(|s| s.queue.clone())));
    let agents = Memo::new(move |_| state.with(|s| s.as_ref().map(|s| s.agents.clone()).unwrap_or_default()));
    let build_id = Memo::new(move |_| state.with(|s| s.as_ref().map(|s| s.build_id.clone()).unwrap_or_default()));
    let writes_need_token = Memo::new(move |_| state.with(|s| s.as_ref().is_some_and(|s| s.writes_need_token)));
    let access = Access { token, writes_need_token };
    let tasks = Memo::new(move |_| state.with(|s| s.as_ref().map(|s| s.tasks.clone()).unwrap_or_default()));

    view! {
        <Router>
            <Header build_id=build_id link=link access=access />
            <main>
                <Routes fallback=|| view! { <p class="empty" data-testid="not-found">"No such page."</p> }>
                    <Route path=path!("/") view=move || view! { <Inbox state=state access=access /> } />
                    <Route path=path!("/node") view=move || view! { <Overview repositories=repositories node=node /> } />
                    <Route path=path!("/agents") view=move || view! { <AgentsPage agents=agents access=access /> } />
                    <Route path=path!("/queue") view=move || view! { <QueuePage queue=queue access=access /> } />
                    <Route path=path!("/tasks") view=move || view! { <TasksPage live=tasks repositories=repositories access=access /> } />
                    <Route path=path!("/tasks/:repo/:name") view=move || view! { <TaskPage live=tasks access=access /> } />
                    <Route path=path!("/terminals") view=move || view! { <TerminalsPage state=state access=access /> } />
                    <Route path=path!("/terminals/:agent_id") view=move || view! { <TerminalPage state=state access=access /> } />
                </Routes>
            </main>
        </Router>
    }
}
