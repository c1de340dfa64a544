//! `qcold repo …` against a real SQLite file and real git repositories.

use qcold_core::RepositoryList;
use qcold_tests::Env;

fn list(env: &Env) -> RepositoryList {
    serde_json::from_str(&env.qcold(&["repo", "list", "--json"]).ok()).expect("repo list --json is a RepositoryList")
}

#[test]
fn add_list_activate_remove() {
    let env = Env::new();
    let web = env.git_repo("web");
    let api = env.git_repo("api");
    let out = env.qcold(&["repo", "add", "web", "web", "--set-active"]).ok();
    assert!(out.contains("registered repository web"), "{out}");
    env.qcold(&[
        "repo",
        "add",
        "api",
        api.to_str().unwrap(),
        "--verify-command",
        "cargo test",
        "--default-branch",
        "main",
    ])
    .ok();

    let repos = list(&env);
    assert_eq!(repos.active.as_ref().map(|a| a.as_str()), Some("web"));
    let ids: Vec<&str> = repos.repositories.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["api", "web"]);
    let web_repo = &repos.repositories[1];
    assert_eq!(web_repo.root, web.canonicalize().unwrap().to_str().unwrap(), "a relative root is canonicalised");
    assert_eq!(web_repo.default_branch.as_str(), "main", "the default branch is the checked-out one");
    assert_eq!(repos.repositories[0].verify_command.as_deref(), Some("cargo test"));

    let table = env.qcold(&["repo", "list"]).ok();
    assert!(table.lines().any(|l| l.starts_with('*') && l.contains("web")), "{table}");

    env.qcold(&["repo", "set-active", "api"]).ok();
    let current: qcold_core::Repository =
        serde_json::from_str(&env.qcold(&["repo", "current", "--json"]).ok()).unwrap();
    assert_eq!(current.id.as_str(), "api");

    env.qcold(&["repo", "remove", "api"]).ok();
    assert_eq!(list(&env).active, None, "removing the active repository leaves none active");
    env.qcold(&["repo", "current"]).fails_with("no active repository");
    assert!(api.join("README.md").is_file(), "remove never touches the repository's files");
}

#[test]
fn xtask_manifest_is_found_and_canonicalised() {
    let env = Env::new();
    let repo = env.git_repo("tool");
    std::fs::create_dir_all(repo.join("xtask")).unwrap();
    std::fs::write(repo.join("xtask/Cargo.toml"), "[package]\nname = \"xtask\"\n").unwrap();
    env.qcold(&["repo", "add", "tool", "tool"]).ok();
    let repos = list(&env);
    let tool = &repos.repositories[0];
    assert_eq!(tool.adapter.as_str(), "xtask-process");
    let manifest = repo.join("xtask/Cargo.toml").canonicalize().unwrap();
    assert_eq!(tool.xtask_manifest.as_deref(), manifest.to_str());
    env.qcold(&["repo", "add", "tool2", "tool", "--xtask-manifest", "tool/xtask/Cargo.toml"])
        .fails_with("already registered as repository \"tool\"");
}

#[test]
fn bad_input_is_refused_and_stores_nothing() {
    let env = Env::new();
    let repo = env.git_repo("ok");
    std::fs::create_dir_all(env.path().join("plain")).unwrap();
    std::fs::create_dir_all(repo.join("sub")).unwrap();
    let root = repo.to_str().unwrap();
    let cases: [(&[&str], &str); 10] = [
        (&["repo", "add", "x", "missing"], "repository root missing does not exist"),
        (&["repo", "add", "x", "plain"], "is not a git repository"),
        (&["repo", "add", "x", "ok/sub"], "register the top level instead"),
        (&["repo", "add", "bad id", root], "repository id \"bad id\" contains ' '"),
        (&["repo", "add", "x", root, "--adapter", "make"], "unknown adapter \"make\""),
        (&["repo", "add", "x", root, "--adapter", "xtask-process"], "needs an xtask manifest"),
        (&["repo", "add", "x", root, "--xtask-manifest", "nope.toml"], "xtask manifest nope.toml does not exist"),
        (&["repo", "add", "x", root, "--verify-command", "  "], "--verify-command must not be empty"),
        (&["repo", "add", "x", root, "--default-branch", "develop"], "branch \"develop\" does not exist"),
        (&["repo", "add", "x", root, "--default-branch", "a..b"], "branch name \"a..b\" is invalid"),
    ];
    for (args, message) in cases {
        env.qcold(args).fails_with(message);
    }
    assert!(list(&env).repositories.is_empty(), "no refused add stored anything");
    env.qcold(&["repo", "set-active", "ghost"]).fails_with("no repository \"ghost\" is registered");
    env.qcold(&["repo", "remove", "ghost"]).fails_with("no repository \"ghost\" is registered");
}

#[test]
fn version_is_the_build_id() {
    let env = Env::new();
    let out = env.qcold(&["--version"]).ok();
    let line = out.trim();
    let (version, hash) = line.split_once(' ').expect("<version>.<count> <hash>");
    let parts: Vec<&str> = version.split('.').collect();
    assert_eq!(parts.len(), 4, "{line}");
    assert!(parts.iter().all(|p| p.parse::<u64>().is_ok()), "{line}");
    let hash = hash.strip_suffix("-dirty").unwrap_or(hash);
    assert!(hash.len() == 12 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{line}");
}
