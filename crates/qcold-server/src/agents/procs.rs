//! The process table, read from `/proc`: sysinfo exposes neither process groups nor the
//! zombie state, and agent trees are judged by exactly those.

use std::collections::BTreeSet;

/// One process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Process group id.
    pub pgid: u32,
    /// Whether it is a zombie (exited, not yet reaped): it counts as gone.
    pub zombie: bool,
}

/// Reads one process, if it exists.
pub fn read(pid: u32) -> Option<Proc> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Parses a `/proc/<pid>/stat` line; the command name is parenthesised and may hold spaces.
fn parse_stat(stat: &str) -> Option<Proc> {
    let pid = stat.split_whitespace().next()?.parse().ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Proc {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        pgid: fields.get(2)?.parse().ok()?,
        zombie: *fields.first()? == "Z",
    })
}

/// Every live process.
pub fn all() -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter_map(read)
        .filter(|p| !p.zombie)
        .collect()
}

/// Whether `pid` is alive (present and not a zombie).
pub fn alive(pid: u32) -> bool {
    read(pid).is_some_and(|p| !p.zombie)
}

/// The live processes of an agent: its root (`0`: none, its wrapper is gone), everything
/// descended from it, and every member of its process group (orphans that were reparented away
/// stay in the group) that carries its mark — `MARK_ENV=mark` in its environment.
///
/// The group id alone proves nothing once all of the agent's processes have ended: the kernel
/// hands the number out again, and a stranger (another daemon's tmux server, an operator's shell)
/// may lead a group of that id. Only a verified root, what descends from it now, and marked
/// members are the agent's.
pub fn tree(root: u32, pgid: u32, mark: &str) -> BTreeSet<u32> {
    let table = all();
    let mut members: BTreeSet<u32> = table
        .iter()
        .filter(|p| (root != 0 && p.pid == root) || (p.pgid == pgid && carries(p.pid, mark)))
        .map(|p| p.pid)
        .collect();
    loop {
        let before = members.len();
        for p in &table {
            if members.contains(&p.ppid) {
                members.insert(p.pid);
            }
        }
        if members.len() == before {
            return members;
        }
    }
}

/// Whether process `pid` has `MARK_ENV=mark` in its environment (as it was at its exec).
fn carries(pid: u32, mark: &str) -> bool {
    let wanted = format!("{}={mark}", super::wrapper::MARK_ENV);
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|raw| raw.split(|b| *b == 0).any(|entry| entry == wanted.as_bytes()))
}

/// The command line of a process.
pub fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_odd_names() {
        let p = parse_stat("4242 (my (odd) cmd) S 1 4242 4242 0 -1").unwrap();
        assert_eq!((p.pid, p.ppid, p.pgid, p.zombie), (4242, 1, 4242, false));
        assert!(parse_stat("7 (x) Z 1 7 7").unwrap().zombie);
        assert!(alive(std::process::id()));
        assert!(!alive(u32::MAX / 2), "a made-up pid is not alive");
        assert!(tree(std::process::id(), u32::MAX, "none").contains(&std::process::id()));
    }
}
