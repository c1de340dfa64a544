//! Readiness probes: what tells whether an agent command can launch now.
//!
//! Three kinds, by how the command was defined. An explicit probe argv runs and must exit 0. A
//! preset runs its CLI's `--version` (for the reason) and its help, which must list every flag
//! the preset passes, and then looks for a login where the CLI keeps one. Any other command is
//! only checked to be an executable program: an operator's script is never run to probe it, as
//! one that ignores `--version` would do real work. Every process runs with the command's own
//! environment, under [`PROBE_TIMEOUT`], with stdin closed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use qcold_core::agent::command::{AgentCommand, Readiness};
use qcold_core::agent::preset::{self, Preset};

use crate::deadline::{self, Ended};

/// How long one probe process may run.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The readiness of `command`, whose agents get `env` on top of this process's environment.
pub fn check(command: &AgentCommand, env: &[(String, String)], now: i64) -> Readiness {
    let result = match (&command.probe, command.preset) {
        (Some(argv), _) => run(argv, env).map(|out| first_line(&out)),
        (None, Some(preset)) => check_preset(preset, env),
        (None, None) => executable(&command.argv[0], env),
    };
    match result {
        Ok(reason) => Readiness { ready: true, reason, checked_at: now },
        Err(reason) => Readiness { ready: false, reason, checked_at: now },
    }
}

fn check_preset(preset: Preset, env: &[(String, String)]) -> Result<String, String> {
    let spec = preset.spec();
    executable(spec.program, env)?;
    let version = first_line(&run(&[spec.program.to_owned(), "--version".to_owned()], env)?);
    let help_argv = preset.help_argv();
    let help = run(&help_argv, env)?;
    let missing = preset::unlisted(&help, spec.flags);
    if !missing.is_empty() {
        return Err(format!(
            "`{}` does not list {} ({version}): this {} does not take the flags the preset passes; \
             update it, or register a custom command",
            help_argv.join(" "),
            missing.join(", "),
            spec.program
        ));
    }
    let var = |key: &str| inherited(key, env);
    let read = |path: &str| std::fs::read_to_string(path).ok();
    match spec.login {
        Some(login) => login.judge(&var, &read).map(|evidence| format!("{version} ({evidence})")),
        None => Ok(version),
    }
}

/// What of this process's environment a probe's answer depends on, as a short digest: `PATH`
/// (where programs are found), `HOME` (where logins live) and which login variables are set. The
/// cache keeps an answer for the environment it was probed in, so the answer a CLI got in an
/// operator's shell is never taken for the daemon's, whose agents inherit another environment.
pub fn environment_mark() -> String {
    use sha2::Digest as _;
    let mut digest = sha2::Sha256::new();
    for key in ["PATH", "HOME"] {
        digest.update(format!("{key}={}\0", std::env::var(key).unwrap_or_default()));
    }
    for preset in Preset::ALL {
        let logins = preset.spec().login.iter().flat_map(|l| l.keys.iter().chain([&l.dir_var]));
        for key in logins {
            digest.update(format!("{key}:{}\0", std::env::var_os(key).is_some()));
        }
    }
    digest.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// `key` as the agent sees it: the command's own value, else this process's.
fn inherited(key: &str, env: &[(String, String)]) -> Option<String> {
    match env.iter().rev().find(|(k, _)| k == key) {
        Some((_, value)) => Some(value.clone()).filter(|v| !v.is_empty()),
        // The agent inherits the daemon's environment, so that is where its login lives; this is
        // the environment read invariant 5 allows besides `PATH`.
        None => std::env::var(key).ok().filter(|v| !v.is_empty()),
    }
}

/// Whether `program` is an executable the launch can find: an absolute path, a relative one
/// (resolved in the worktree at launch, so not checked here), or a name on the agent's PATH.
fn executable(program: &str, env: &[(String, String)]) -> Result<String, String> {
    if program.contains('/') {
        let path = Path::new(program);
        if !path.is_absolute() {
            return Ok(format!("{program} is resolved in the worktree at launch"));
        }
        return if super::is_executable(path) {
            Ok(format!("{program} is executable (not run to probe it)"))
        } else if path.exists() {
            Err(format!("{program} is not an executable file"))
        } else {
            Err(format!("{program} not found"))
        };
    }
    let path = inherited("PATH", env).unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| super::is_executable(candidate))
        .map(|found| format!("{} is executable (not run to probe it)", found.display()))
        .ok_or_else(|| format!("{program} not found"))
}

/// Runs a probe process; its output when it exits 0, else why not.
/// Runs a probe; its output on success, standard output first (a CLI may warn on standard error
/// before its version), else why it failed.
fn run(argv: &[String], env: &[(String, String)]) -> Result<String, String> {
    let Some((program, args)) = argv.split_first() else { return Err("empty probe".into()) };
    // Output goes to files, not pipes: a probe that leaves a child holding a pipe open must not
    // block the read past the timeout.
    let captured = tempfile::NamedTempFile::new().and_then(|out| Ok((out, tempfile::NamedTempFile::new()?)));
    let Ok((out, err)) = captured else {
        return Err("cannot create a file for the probe's output".into());
    };
    let (Ok(stdout), Ok(stderr)) = (out.as_file().try_clone(), err.as_file().try_clone()) else {
        return Err("cannot create a file for the probe's output".into());
    };
    let mut cmd = Command::new(program);
    cmd.args(args).envs(env.iter().map(|(k, v)| (k, v))).stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    let ended = deadline::run(&mut cmd, PROBE_TIMEOUT);
    let read = |file: &tempfile::NamedTempFile| std::fs::read_to_string(file.path()).unwrap_or_default();
    let (stdout, stderr) = (read(&out), read(&err));
    match ended {
        Ok(Ended::Exited(status)) if status.success() => Ok(format!("{stdout}\n{stderr}")),
        Ok(Ended::Exited(status)) => {
            // Why it failed is on standard error, if anywhere.
            let line = first_line(&format!("{stderr}\n{stdout}"));
            Err(match status.code() {
                Some(code) if line.is_empty() => format!("probe exited {code}"),
                Some(code) => format!("probe exited {code}: {line}"),
                None => "probe was killed by a signal".into(),
            })
        }
        Ok(Ended::TimedOut) => Err(format!("probe timed out after {}s", PROBE_TIMEOUT.as_secs())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!("{program} not found")),
        Err(e) => Err(format!("cannot run {program}: {e}")),
    }
}

fn first_line(output: &str) -> String {
    output.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").chars().take(200).collect()
}
