//! Processes for the system tests: children killed on drop, a private pcscd with vpcd, the
//! `kazashi-se` binary, and a small harness for `harness = false` test files.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process that is killed (SIGKILL) and reaped when dropped, so no test leaves
/// pcscd or `kazashi-se` running, even when it panics.
#[derive(Debug)]
pub struct Guard {
    pub name: String,
    pub child: Option<Child>,
}

impl Guard {
    pub fn spawn(name: &str, command: &mut Command) -> Self {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {name}: {e}"));
        Self {
            name: name.into(),
            child: Some(child),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then SIGKILL if the process has not exited within `grace`.
    pub fn terminate(&mut self, grace: Duration) {
        let Some(child) = &mut self.child else { return };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                self.child = None;
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether `program` is on the PATH (or is an existing path).
pub fn have(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// The vpcd driver as Debian's vsmartcard-vpcd installs it.
pub const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";

/// The reader vpcd's first slot shows up as.
pub const READER: &str = "Virtual PCD 00 00";

/// Two consecutive free TCP ports (vpcd listens on `port` and `port + 1`).
pub fn free_port_pair() -> u16 {
    for _ in 0..50 {
        let first = TcpListener::bind("0.0.0.0:0").expect("bind an ephemeral port");
        let port = first.local_addr().expect("local address").port();
        if port < u16::MAX && TcpListener::bind(("0.0.0.0", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no two consecutive free TCP ports");
}

/// A private pcscd: its own client socket (systemd socket activation, so a system pcscd is
/// untouched) and its own reader configuration with vpcd on a private port. Clients reach it
/// with `PCSCLITE_CSOCK_NAME` set to [`Pcscd::socket`].
#[derive(Debug)]
pub struct Pcscd {
    pub dir: PathBuf,
    pub port: u16,
    pub socket: PathBuf,
    pub log: PathBuf,
    pub guard: Guard,
}

impl Pcscd {
    pub fn start(dir: &Path, port: u16) -> Self {
        let conf = dir.join("reader.conf.d");
        fs::create_dir_all(&conf).expect("create reader.conf.d");
        // vsmartcard's reader.conf.d/vpcd with our port: DEVICENAME `/dev/null:PORT` makes vpcd
        // listen for the card side on PORT (slot 0) and PORT+1 (slot 1).
        fs::write(
            conf.join("vpcd"),
            format!(
                "FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME   /dev/null:0x{port:04X}\n\
                 LIBPATH      {VPCD_DRIVER}\nCHANNELID    0x{port:04X}\n"
            ),
        )
        .expect("write the vpcd reader configuration");
        let socket = dir.join("pcscd.comm");
        let _ = fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket).expect("bind the private pcscd socket");
        let log = dir.join("pcscd.log");
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open pcscd.log");
        // Socket activation (sd_listen_fds): the listening socket goes in as fd 3, with
        // LISTEN_PID naming pcscd itself, which `exec` keeps equal to the shell's `$$`.
        let guard = Guard::spawn(
            "pcscd",
            Command::new("sh")
                .args([
                    "-c",
                    "exec 3<&0 0</dev/null; LISTEN_PID=$$ LISTEN_FDS=1 exec pcscd -f -c \"$1\"",
                    "sh",
                ])
                .arg(&conf)
                .stdin(Stdio::from(OwnedFd::from(listener)))
                .stdout(out.try_clone().expect("clone log handle"))
                .stderr(out),
        );
        let pcscd = Self {
            dir: dir.to_path_buf(),
            port,
            socket,
            log,
            guard,
        };
        pcscd.wait_listening();
        pcscd
    }

    /// Waits until vpcd listens on its port (pcscd has loaded the driver).
    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpListener::bind(("0.0.0.0", self.port)).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "pcscd did not open vpcd's port {} within 10 s; its log:\n{}",
            self.port,
            fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// The environment a PC/SC client needs to reach this pcscd.
    pub fn env(&self) -> (&'static str, &Path) {
        ("PCSCLITE_CSOCK_NAME", &self.socket)
    }

    /// Kills pcscd (SIGKILL, like a crash) and starts a fresh one on the same socket and port.
    pub fn restart(&mut self) {
        self.guard.kill();
        let fresh = Self::start(&self.dir, self.port);
        *self = fresh;
    }

    /// Kills pcscd and starts a fresh one on the same client socket but a new vpcd port pair.
    ///
    /// The killed pcscd's vpcd connection can outlive it in the kernel (an orphaned socket on
    /// its port, for up to a minute); vpcd does not set `SO_REUSEADDR`, so a new pcscd on the
    /// same port then fails with "Address already in use" and never shows the reader (seen
    /// in CI after many restarts). Cards must connect to the new [`Pcscd::port`].
    pub fn restart_on_new_port(&mut self) {
        self.guard.kill();
        let fresh = Self::start(&self.dir, free_port_pair());
        *self = fresh;
    }
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        // A clean stop removes the pid file pcscd writes in /run/pcscd.
        self.guard.terminate(Duration::from_secs(3));
    }
}

/// Waits until `path` contains `needle` at least `count` times.
pub fn wait_for_log(path: &Path, needle: &str, count: usize, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let text = fs::read_to_string(path).unwrap_or_default();
        if text.matches(needle).count() >= count {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Reads a child's stdout line by line in a thread, returning every line at EOF.
pub fn collect_lines(
    stdout: impl std::io::Read + Send + 'static,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect()
    })
}

/// A fresh scratch directory under the system temp dir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kazashi-se-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// For `harness = false` test files: whether libtest-style arguments ask to skip `name`
/// (a filter that does not match, `--list`, or `--ignored` only).
pub fn filtered_out(name: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("{name}: test");
        return true;
    }
    if args.iter().any(|a| a == "--ignored") {
        return true;
    }
    let exact = args.iter().any(|a| a == "--exact");
    let mut skip_value = false;
    let filters: Vec<&String> = args
        .iter()
        .filter(|a| {
            if skip_value {
                skip_value = false;
                return false;
            }
            if matches!(
                a.as_str(),
                "--test-threads" | "--skip" | "--format" | "--color" | "-Z" | "--logfile"
            ) {
                skip_value = true;
                return false;
            }
            !a.starts_with('-')
        })
        .collect();
    !filters.is_empty()
        && !filters.iter().any(|f| {
            if exact {
                *f == name
            } else {
                name.contains(f.as_str())
            }
        })
}
