//! `qcold guard`: replay within limits, stop and summarise beyond them.

use std::time::Duration;

use qcold_tests::{Env, alive, wait_until};

#[test]
fn output_and_exit_code_are_replayed() {
    let env = Env::new();
    let out = env.command().args(["guard", "--", "sh", "-c", "echo to-out; echo to-err >&2; exit 7"]).output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "to-out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "to-err\n");
}

#[test]
fn overflow_kills_the_whole_command_and_prints_only_a_summary() {
    let env = Env::new();
    let pid_file = env.path().join("sleeper.pid");
    let script = format!("sleep 300 & echo $! > {}; yes", pid_file.display());
    let out = env.command().args(["guard", "--max-lines", "100", "--", "sh", "-c", &script]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no payload on overflow");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let fields: Vec<&str> = stderr.trim_end().split('\t').collect();
    assert_eq!(&fields[..2], ["qcold-guard", "status=blocked"], "{stderr}");
    assert!(fields.contains(&"max_lines=100") && fields.contains(&"max_bytes=16384"), "{stderr}");
    assert!(fields.iter().any(|f| f.starts_with("lines=")) && fields.iter().any(|f| f.starts_with("message=")));
    let sleeper: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert!(wait_until(Duration::from_secs(5), || !alive(sleeper)), "the command's background child was killed too");
}

#[test]
fn byte_limit_and_bad_input() {
    let env = Env::new();
    let out =
        env.command().args(["guard", "--max-bytes", "10", "--", "sh", "-c", "echo 0123456789abcdef"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bytes=17\t"));
    env.qcold(&["guard"]).fails_with("required arguments were not provided");
    env.qcold(&["guard", "--", "no-such-program-qcold"]).fails_with("cannot run \"no-such-program-qcold\"");
}
