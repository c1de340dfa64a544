//! `qcold status` on a real checkout.

use qcold_core::api::StatusReport;
use qcold_tests::{Env, git};

#[test]
fn status_reports_branch_and_dirty_files() {
    let env = Env::new();
    let out = env.qcold(&["status"]).ok();
    assert!(out.contains("no active repository"), "{out}");
    let empty: StatusReport = serde_json::from_str(&env.qcold(&["status", "--json"]).ok()).unwrap();
    assert!(empty.repository.is_none());

    let repo = env.git_repo("web");
    env.qcold(&["repo", "add", "web", "web", "--set-active"]).ok();
    let clean: StatusReport = serde_json::from_str(&env.qcold(&["status", "--json"]).ok()).unwrap();
    assert_eq!(clean.branch.as_deref(), Some("main"));
    assert!(clean.dirty_files.is_empty());

    std::fs::write(repo.join("README.md"), "changed\n").unwrap();
    std::fs::write(repo.join("new file.txt"), "x\n").unwrap();
    git(&repo, &["checkout", "-q", "-b", "feature"]);
    let dirty: StatusReport = serde_json::from_str(&env.qcold(&["status", "--json"]).ok()).unwrap();
    assert_eq!(dirty.branch.as_deref(), Some("feature"));
    let files: Vec<(&str, &str)> = dirty.dirty_files.iter().map(|f| (f.code.as_str(), f.path.as_str())).collect();
    assert_eq!(files, [(" M", "README.md"), ("??", "new file.txt")]);
    let text = env.qcold(&["status"]).ok();
    assert!(text.contains("branch      feature (default main)"), "{text}");
    assert!(text.contains("?? new file.txt"), "{text}");
    assert_eq!(std::fs::read_to_string(repo.join("README.md")).unwrap(), "changed\n", "status changes nothing");
}

#[test]
fn status_names_a_vanished_root() {
    let env = Env::new();
    let repo = env.git_repo("gone");
    env.qcold(&["repo", "add", "gone", "gone", "--set-active"]).ok();
    std::fs::remove_dir_all(&repo).unwrap();
    env.qcold(&["status"]).fails_with("no longer exists");
}

#[test]
fn malformed_settings_are_named() {
    let env = Env::new();
    for (name, value, message) in [
        (
            "QCOLD_PAUSED_TASK_TTL_HOURS",
            "two",
            "QCOLD_PAUSED_TASK_TTL_HOURS must be a whole number of hours, got \"two\"",
        ),
        ("QCOLD_SQLITE_BUSY_TIMEOUT_MS", "-1", "QCOLD_SQLITE_BUSY_TIMEOUT_MS must be a whole number of milliseconds"),
    ] {
        qcold_tests::Run::from(env.command().arg("status").env(name, value).output().unwrap()).fails_with(message);
    }
    assert!(!env.state_dir().exists(), "a refused start creates no state");
}
