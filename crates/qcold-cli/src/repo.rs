//! `qcold repo …`: the repository registry.

use qcold_core::Repository;
use qcold_server::repos::{self, AddRepo, Upserted};
use qcold_server::store::Store;
use qcold_server::{Config, unix_now};

use crate::cli::RepoCommand;
use crate::output;

pub(crate) fn run(config: &Config, command: RepoCommand) -> anyhow::Result<()> {
    let mut store = Store::open(&config.state_dir, config.sqlite_busy_timeout)?;
    match command {
        RepoCommand::Add(args) => {
            let request = AddRepo {
                id: args.id,
                root: args.root,
                adapter: args.adapter,
                xtask_manifest: args.xtask_manifest,
                verify_command: args.verify_command,
                default_branch: args.default_branch,
                worktree_root: args.worktree_root,
                set_active: args.set_active,
            };
            let (repo, upserted) = repos::add(&mut store, &request, unix_now())?;
            let verb = match upserted {
                Upserted::Created => "registered",
                Upserted::Updated => "updated",
            };
            let active = if args.set_active { " (active)" } else { "" };
            output::line(format_args!("{verb} repository {} at {}{active}", repo.id, repo.root))
        }
        RepoCommand::List(flag) => {
            let list = store.repositories()?;
            if flag.json {
                return output::json(&list, false);
            }
            if list.repositories.is_empty() {
                return output::line("no repositories registered; add one with `qcold repo add <id> <root>`");
            }
            let rows: Vec<Vec<String>> = list
                .repositories
                .iter()
                .map(|r| {
                    let active = if list.active.as_ref() == Some(&r.id) { "*" } else { "" };
                    vec![
                        active.to_owned(),
                        r.id.to_string(),
                        r.adapter.to_string(),
                        r.default_branch.to_string(),
                        r.root.clone(),
                    ]
                })
                .collect();
            output::table(&["", "ID", "ADAPTER", "BRANCH", "ROOT"], &rows)
        }
        RepoCommand::Remove { id } => {
            store.remove_repo(&id)?;
            output::line(format_args!("removed repository {id}; its files are untouched"))
        }
        RepoCommand::SetActive { id } => {
            store.set_active_repo(&id)?;
            output::line(format_args!("active repository: {id}"))
        }
        RepoCommand::Current(flag) => {
            let repo = repos::resolve(&store, None)?;
            if flag.json { output::json(&repo, false) } else { describe(&repo) }
        }
        RepoCommand::Maintain { id } => {
            let repo = repos::resolve(&store, id.as_ref())?;
            drop(store);
            let printed = qcold_server::git::maintenance(std::path::Path::new(&repo.root))?;
            if !printed.is_empty() {
                output::line(&printed)?;
            }
            output::line(format_args!("maintained repository {} at {}", repo.id, repo.root))
        }
    }
}

fn describe(repo: &Repository) -> anyhow::Result<()> {
    output::line(format_args!("id              {}", repo.id))?;
    output::line(format_args!("root            {}", repo.root))?;
    output::line(format_args!("adapter         {}", repo.adapter))?;
    if let Some(manifest) = &repo.xtask_manifest {
        output::line(format_args!("xtask manifest  {manifest}"))?;
    }
    if let Some(command) = &repo.verify_command {
        output::line(format_args!("verify command  {command}"))?;
    }
    output::line(format_args!("default branch  {}", repo.default_branch))
}
