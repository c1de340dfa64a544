//! The node page (`/node`): the registered repositories, the node's health block by block, and
//! its last hour as charts.

mod charts;

use leptos::prelude::*;
use qcold_core::snapshot::BlockStatus;
use qcold_core::units::{format_bytes, format_duration};
use qcold_core::{NodeSnapshot, RepositoryList};

use self::charts::NodeCharts;
use crate::token::SessionToken;

/// The page: repositories next to node health, and the charts.
#[component]
pub(crate) fn Overview(
    repositories: Signal<Option<RepositoryList>>,
    node: Signal<Option<NodeSnapshot>>,
    token: SessionToken,
) -> impl IntoView {
    view! {
        <Repositories list=repositories />
        <NodeHealth node=node />
        <NodeCharts node=node token=token />
    }
}

/// The registered repositories, the active one marked.
#[component]
fn Repositories(list: Signal<Option<RepositoryList>>) -> impl IntoView {
    let rows = move || list.get().map(|l| (l.active, l.repositories)).unwrap_or_default();
    view! {
        <section data-testid="repositories">
            <h2>"Repositories"</h2>
            <Show
                when=move || !rows().1.is_empty()
                fallback=|| view! { <p class="empty">"No repositories registered. Run " <code>"qcold repo add <id> <root>"</code> "."</p> }
            >
                <table>
                    <thead><tr><th></th><th>"Id"</th><th>"Adapter"</th><th>"Branch"</th><th>"Root"</th></tr></thead>
                    <tbody>
                        <For
                            each=move || { let (active, repos) = rows(); repos.into_iter().map(move |r| (active.as_ref() == Some(&r.id), r)).collect::<Vec<_>>() }
                            key=|(active, r)| (*active, r.id.clone(), r.updated_at)
                            children=|(active, repo)| view! {
                                <tr data-testid=format!("repo-{}", repo.id)>
                                    <td>{if active { "★" } else { "" }}</td>
                                    <td>{repo.id.to_string()}</td>
                                    <td>{repo.adapter.to_string()}</td>
                                    <td>{repo.default_branch.to_string()}</td>
                                    <td class="root">{repo.root.clone()}</td>
                                </tr>
                            }
                        />
                    </tbody>
                </table>
            </Show>
        </section>
    }
}

/// Node health: status badge, CPUs, load, memory, disk and the issues behind the status.
#[component]
fn NodeHealth(node: Signal<Option<NodeSnapshot>>) -> impl IntoView {
    move || {
        let Some(node) = node.get() else {
            return view! { <section data-testid="node"><h2>"Node"</h2><p class="empty">"Loading…"</p></section> }
                .into_any();
        };
        let resources = &node.resources;
        let cpus = resources.cpu.as_ref().map(|c| c.logical_cpus.to_string()).unwrap_or_else(|| "?".into());
        let usage = resources.cpu.as_ref().map(|c| format!("{:.0} %", c.usage_percent)).unwrap_or_default();
        let load =
            resources.load.as_ref().map(|l| format!("{:.2} {:.2} {:.2}", l.one, l.five, l.fifteen)).unwrap_or_default();
        let memory = resources
            .memory
            .as_ref()
            .map(|m| format!("{} used of {}", format_bytes(m.used_bytes), format_bytes(m.total_bytes)))
            .unwrap_or_default();
        let disk = resources
            .disk
            .as_ref()
            .map(|d| {
                format!(
                    "{} free of {} on {}",
                    format_bytes(d.available_bytes),
                    format_bytes(d.total_bytes),
                    d.mount_point
                )
            })
            .unwrap_or_default();
        let host = node.heartbeat.hostname.clone().unwrap_or_else(|| "unknown host".into());
        let uptime = node.heartbeat.uptime_seconds.map(format_duration).unwrap_or_default();
        let issues =
            node.issues.iter().map(|i| view! { <li>{format!("{}: {}", i.block, i.message)}</li> }).collect_view();
        let blocks = [
            ("heartbeat", node.heartbeat.status),
            ("managed", node.managed.status),
            ("queue", node.queue.status),
            ("resources", node.resources.status),
            ("proxy", node.proxy.status),
        ]
        .map(|(name, status)| {
            view! {
                <li data-testid=format!("block-{name}")>
                    {name}" "<span class=format!("badge {}", status.as_str())>{status.as_str()}</span>
                </li>
            }
        });
        view! {
            <section data-testid="node">
                <h2>"Node " <StatusBadge status=node.status /></h2>
                <dl>
                    <dt>"Host"</dt><dd data-testid="hostname">{host}</dd>
                    <dt>"Uptime"</dt><dd>{uptime}</dd>
                    <dt>"CPUs"</dt><dd data-testid="cpu-count">{cpus}</dd>
                    <dt>"CPU use"</dt><dd data-testid="cpu-usage">{usage}</dd>
                    <dt>"Load"</dt><dd data-testid="load">{load}</dd>
                    <dt>"Memory"</dt><dd data-testid="memory">{memory}</dd>
                    <dt>"Disk"</dt><dd>{disk}</dd>
                </dl>
                <ul class="blocks" data-testid="node-blocks">{blocks.into_iter().collect_view()}</ul>
                <ul class="issues">{issues}</ul>
            </section>
        }
        .into_any()
    }
}

#[component]
fn StatusBadge(status: BlockStatus) -> impl IntoView {
    view! { <span class=format!("badge {}", status.as_str()) data-testid="node-status">{status.as_str()}</span> }
}
