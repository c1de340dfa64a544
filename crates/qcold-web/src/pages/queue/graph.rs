//! A run drawn as a graph: one column per wave, one box per item coloured by its status, and an
//! arrow for every dependency. Beyond [`DRAWN`] items the drawing would be unreadable and costly,
//! so the run is summarised as its waves' sizes instead.

use std::collections::HashMap;

use leptos::prelude::*;
use qcold_core::{ItemId, RunId};

use crate::store::{Fleet, ItemKey};

/// The most items drawn.
const DRAWN: usize = 48;
const COLUMN: f64 = 150.0;
const ROW: f64 = 34.0;
const BOX_WIDTH: f64 = 124.0;
const BOX_HEIGHT: f64 = 24.0;
const TOP: f64 = 22.0;

/// What the drawing depends on: an item's place, not its status.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    key: ItemKey,
    id: ItemId,
    slug: String,
    wave: u32,
    depends_on: Vec<ItemId>,
}

/// Each node's top-left corner, by id, and the drawing's size.
fn layout(nodes: &[Node]) -> (HashMap<ItemId, (f64, f64)>, f64, f64) {
    let mut rows: HashMap<u32, usize> = HashMap::new();
    let mut at = HashMap::new();
    let (mut width, mut height) = (COLUMN, TOP + ROW);
    for node in nodes {
        let row = rows.entry(node.wave).or_default();
        let (x, y) = (8.0 + f64::from(node.wave) * COLUMN, TOP + *row as f64 * ROW);
        *row += 1;
        width = width.max(x + COLUMN);
        height = height.max(y + ROW);
        at.insert(node.id.clone(), (x, y));
    }
    (at, width, height)
}

fn short(slug: &str) -> String {
    if slug.chars().count() > 17 {
        format!("{}…", slug.chars().take(16).collect::<String>())
    } else {
        slug.to_owned()
    }
}

/// The graph of one run; `keys` are its items in position order.
#[component]
pub(super) fn RunGraph(fleet: Fleet, run: RunId, keys: Memo<Vec<ItemKey>>) -> impl IntoView {
    // Reads each item's row (not the whole state) and keeps only what places it, so a status
    // change recolours one box and redraws nothing.
    let nodes = Memo::new(move |_| {
        keys.with(|keys| {
            keys.iter()
                .filter_map(|key| {
                    fleet.items.row(key).map(|row| {
                        row.with(|i| Node {
                            key: key.clone(),
                            id: i.id.clone(),
                            slug: i.slug.to_string(),
                            wave: i.wave_index,
                            depends_on: i.depends_on.clone(),
                        })
                    })
                })
                .collect::<Vec<_>>()
        })
    });
    let testid = format!("queue-graph-{run}");
    move || {
        let testid = testid.clone();
        nodes.with(|nodes| {
            if nodes.len() > DRAWN {
                let mut waves: Vec<usize> = Vec::new();
                for node in nodes {
                    let wave = node.wave as usize;
                    if waves.len() <= wave {
                        waves.resize(wave + 1, 0);
                    }
                    waves[wave] += 1;
                }
                let sizes: Vec<String> = waves.iter().enumerate().map(|(w, n)| format!("wave {w}: {n}")).collect();
                let text = format!(
                    "{} items in {} wave(s), drawn up to {DRAWN}: {}",
                    nodes.len(),
                    waves.len(),
                    sizes.join(" · ")
                );
                return view! { <p class="graph-summary" data-testid=testid>{text}</p> }.into_any();
            }
            draw(fleet, &run, nodes, testid).into_any()
        })
    }
}

fn draw(fleet: Fleet, run: &RunId, nodes: &[Node], testid: String) -> impl IntoView + use<> {
    let (at, width, height) = layout(nodes);
    let marker = format!("arrow-{run}");
    let waves = nodes.iter().map(|n| n.wave).max().map_or(0, |w| w + 1);
    let labels = (0..waves)
        .map(|w| {
            let x = 8.0 + f64::from(w) * COLUMN;
            view! { <text class="wave-label" x=x.to_string() y="14">{format!("wave {w}")}</text> }
        })
        .collect_view();
    let mut edges = Vec::new();
    for node in nodes {
        let Some(&(x2, y2)) = at.get(&node.id) else { continue };
        for dep in &node.depends_on {
            let Some(&(x1, y1)) = at.get(dep) else { continue };
            let (sx, sy, ex, ey) = (x1 + BOX_WIDTH, y1 + BOX_HEIGHT / 2.0, x2 - 2.0, y2 + BOX_HEIGHT / 2.0);
            let mid = (sx + ex) / 2.0;
            let d = format!("M{sx},{sy} C{mid},{sy} {mid},{ey} {ex},{ey}");
            let edge_id = format!("queue-edge-{run}-{dep}-{}", node.id);
            edges.push(view! { <path class="edge" data-testid=edge_id d=d marker-end=format!("url(#{marker})") /> });
        }
    }
    let boxes = nodes
        .iter()
        .map(|node| {
            let (x, y) = at[&node.id];
            let row = fleet.items.row(&node.key);
            let class = move || row.map(|r| r.with(|i| format!("node {}", i.status.as_str()))).unwrap_or_default();
            view! {
                <g class=class data-testid=format!("queue-node-{run}-{}", node.id) data-wave=node.wave.to_string()>
                    <rect x=x.to_string() y=y.to_string() width=BOX_WIDTH.to_string() height=BOX_HEIGHT.to_string() rx="4" />
                    <text x=(x + 6.0).to_string() y=(y + 16.0).to_string()>{short(&node.slug)}</text>
                </g>
            }
        })
        .collect_view();
    view! {
        <svg class="graph" data-testid=testid viewBox=format!("0 0 {width} {height}") width=width.to_string() role="img">
            <defs>
                <marker id=marker viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto">
                    <path d="M0,0 L8,4 L0,8 z" class="arrow" />
                </marker>
            </defs>
            {labels}
            {edges}
            {boxes}
        </svg>
    }
}
