//! Q-COLD's integration suite: one test binary, real processes and files throughout.

mod agent_presets;
mod agents;
mod api_rooms;
mod api_tasks;
mod browser;
mod chaos;
mod cli_repo;
mod cli_status;
mod daemon;
mod deadlines;
mod events;
mod guard;
mod node;
mod queue;
mod queue_cli;
mod queue_delivery;
mod queue_hangs;
mod queue_packets;
mod queue_recovery;
mod security;
mod store_busy;
mod task_closeout;
mod task_health;
mod task_open;
mod telegram;
mod terminal;
