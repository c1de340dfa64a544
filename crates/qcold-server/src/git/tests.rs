use super::*;

#[test]
fn porcelain_z_parsing() {
    let raw = b" M src/lib.rs\0?? new file.txt\0R  renamed.rs\0original.rs\0A  added.rs\0";
    let files = parse_porcelain_z(raw);
    let pairs: Vec<(&str, &str)> = files.iter().map(|f| (f.code.as_str(), f.path.as_str())).collect();
    assert_eq!(pairs, [(" M", "src/lib.rs"), ("??", "new file.txt"), ("R ", "renamed.rs"), ("A ", "added.rs")]);
    assert!(parse_porcelain_z(b"").is_empty());
}

/// A repository with one commit of `a.txt`.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for args in [&["init", "-q", "-b", "main"][..], &["config", "user.name", "T"], &["config", "user.email", "t@x"]] {
        run(root, args).unwrap();
    }
    std::fs::write(root.join("a.txt"), "one\n").unwrap();
    run(root, &["add", "a.txt"]).unwrap();
    commit(root, "first").unwrap();
    dir
}

const LIMITS: ReadLimits = ReadLimits { max_bytes: 1 << 20, timeout: Duration::from_secs(30) };

#[test]
fn worktree_diffs_hold_uncommitted_and_untracked_work_but_not_task_files() {
    let dir = repo();
    let root = dir.path();
    let base = rev_parse(root, "HEAD").unwrap();
    std::fs::write(root.join("a.txt"), "one\ntwo\n").unwrap();
    std::fs::write(root.join("new.txt"), "fresh\n").unwrap();
    std::fs::create_dir_all(root.join(".task/logs")).unwrap();
    std::fs::write(root.join(".task/task.env"), "TASK_ID=x\n").unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let diff = worktree_diff_bounded(root, &base, &scratch.path().join("index"), LIMITS).unwrap();
    assert!(!diff.truncated);
    assert!(diff.text.contains("+two") && diff.text.contains("+++ b/new.txt"), "{}", diff.text);
    assert!(!diff.text.contains(".task"), "{}", diff.text);
    assert_eq!(dirty_files(root).unwrap().len(), 3, "the real index is untouched");
}

#[test]
fn long_diffs_are_cut_at_a_line_end() {
    let dir = repo();
    let root = dir.path();
    let base = rev_parse(root, "HEAD").unwrap();
    let lines: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(root.join("a.txt"), &lines).unwrap();
    stage_all_but_task_dir(root).unwrap();
    commit(root, "long").unwrap();
    let whole = diff_bounded(root, &base, "HEAD", LIMITS).unwrap();
    assert!(!whole.truncated && whole.text.len() > 10_000, "{}", whole.text.len());
    let cut = diff_bounded(root, &base, "HEAD", ReadLimits { max_bytes: 1000, ..LIMITS }).unwrap();
    assert!(cut.truncated);
    assert!(cut.text.len() <= 1000 && cut.text.ends_with('\n'), "{:?}", cut.text);
    assert!(whole.text.starts_with(&cut.text));
    let err = diff_bounded(root, &base, "no-such-rev", LIMITS).unwrap_err();
    assert!(matches!(err, GitError::Failed { .. }), "{err}");
}
