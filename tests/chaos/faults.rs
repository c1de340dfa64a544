//! Faults the chaos suite inflicts on a world besides killing its daemon: a held `index.lock`,
//! an origin that goes silent, a full state disk and a store locked past its busy timeout.

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::wait_until;

/// A `.git/index.lock` in a checkout, as another git process (an editor, an IDE) holds it.
#[derive(Debug)]
pub struct IndexLock(PathBuf);

impl IndexLock {
    /// Creates the lock file; it goes when dropped.
    pub fn hold(repo: &Path) -> Self {
        let path = repo.join(".git").join("index.lock");
        std::fs::write(&path, "").expect("create index.lock");
        Self(path)
    }
}

impl Drop for IndexLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A git origin served by `git daemon` behind a TCP proxy that can go silent: while silent it
/// accepts connections and never answers them, as a dead host behind a live load balancer does.
/// Connections accepted while silent stay unanswered until the proxy is dropped.
#[derive(Debug)]
pub struct SilentOrigin {
    daemon: Child,
    port: u16,
    silent: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl SilentOrigin {
    /// Serves the bare repositories under `base` (`git://127.0.0.1:<port>/<name>.git`).
    pub fn serve(base: &Path) -> Self {
        let daemon_port = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        let daemon = Command::new("git")
            .args(["daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", "--listen=127.0.0.1"])
            .arg(format!("--port={daemon_port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start git daemon");
        let up = wait_until(Duration::from_secs(10), || TcpStream::connect(("127.0.0.1", daemon_port)).is_ok());
        assert!(up, "git daemon does not listen on {daemon_port}");
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy port");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let (silent, held, stop) = (Arc::new(AtomicBool::new(false)), Arc::default(), Arc::new(AtomicBool::new(false)));
        let (s, h, st) = (Arc::clone(&silent), Arc::clone(&held), Arc::clone(&stop));
        std::thread::spawn(move || proxy(&listener, daemon_port, &s, &h, &st));
        Self { daemon, port, silent, held, stop }
    }

    /// The URL of `<name>` through the proxy.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }

    /// Starts or ends the silence.
    pub fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::SeqCst);
    }

    /// How many connections were accepted and never answered.
    pub fn unanswered(&self) -> usize {
        self.held.lock().map_or(0, |h| h.len())
    }
}

impl Drop for SilentOrigin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn proxy(listener: &TcpListener, target: u16, silent: &AtomicBool, held: &Mutex<Vec<TcpStream>>, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                client.set_nonblocking(false).expect("blocking");
                if silent.load(Ordering::SeqCst) {
                    held.lock().expect("held").push(client);
                } else if let Ok(server) = TcpStream::connect(("127.0.0.1", target)) {
                    pipe(client, server);
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Copies both ways between two streams until either side closes.
fn pipe(client: TcpStream, server: TcpStream) {
    let (mut c_read, mut s_write) = (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
    let (mut s_read, mut c_write) = (server, client);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(std::net::Shutdown::Write);
    });
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut s_read, &mut c_write);
        let _ = c_write.shutdown(std::net::Shutdown::Write);
    });
}

/// A small tmpfs mounted on a directory (the test runs as root); unmounted when dropped.
#[derive(Debug)]
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount -o size=…`, e.g. `24m`) on `dir`, or says why not.
    pub fn mount(dir: &Path, size: &str) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Self(dir.to_owned()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    /// Fills the file system with one file until it is full; deleting the file frees it.
    pub fn fill(&self) -> PathBuf {
        let path = self.0.join("filler");
        let mut file = std::fs::File::create(&path).expect("create the filler");
        let chunk = vec![0_u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        // Fill the last partial block too.
        while file.write_all(&chunk[..512]).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a process that still holds a file there (a dying tmux server) must not keep the
        // mount alive past the test.
        let _ = Command::new("umount").arg("-l").arg(&self.0).stderr(Stdio::null()).status();
    }
}

/// An exclusive transaction on the store, held until dropped: every other writer waits for its
/// busy timeout and then fails with "database is locked".
#[derive(Debug)]
pub struct StoreLock(rusqlite::Connection);

impl StoreLock {
    /// Takes the lock on the store in `state_dir`.
    pub fn hold(state_dir: &Path) -> Self {
        let db = rusqlite::Connection::open(state_dir.join("qcold.sqlite3")).expect("open the store");
        db.busy_timeout(Duration::from_secs(30)).expect("busy timeout");
        db.execute_batch("BEGIN EXCLUSIVE").expect("BEGIN EXCLUSIVE");
        Self(db)
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("ROLLBACK");
    }
}
