//! `cargo xtask demo`: the main job. A provider's mobile site (`www/`, served by the provider
//! backend `examples/provider-node/`) against the real `kazashi-server` on SQLite, with the
//! phone's common app and virtual chip running in the page (the npm package's `Relay` and
//! `VirtualSecureElement`). Everything lives in `target/demo/` and is reused on the next run.
//!
//! `cargo xtask test` starts the same stack in a scratch directory and drives it with Chromium
//! (`tests/demo/`).

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::util::{self, root, run, step};
use crate::{pcsc, sdk};

/// The demo provider's id (registered with the server).
pub(crate) const PROVIDER: &str = "midori-city";

const USAGE: &str = "\
usage: cargo xtask demo [--port PORT] [--server-port PORT] [--dir DIR]
       cargo xtask demo test      the demo's Chromium tests (part of `cargo xtask test`)

Starts kazashi-server (SQLite) and the demo provider's site, prints the URL, and stops both on
Ctrl-C. Defaults: site on 127.0.0.1:8080, server on 127.0.0.1:8700, state in target/demo/.
";

/// The running demo: the server and the provider backend, stopped on drop.
pub(crate) struct Stack {
    /// The site's URL.
    pub(crate) site: String,
    /// The server's URL.
    pub(crate) server: String,
    children: Vec<(String, Child)>,
}

impl Stack {
    /// Whether every process still runs (the name of the first that exited otherwise).
    fn exited(&mut self) -> Option<String> {
        self.children
            .iter_mut()
            .find_map(|(name, child)| (!matches!(child.try_wait(), Ok(None))).then(|| name.clone()))
    }

    /// SIGTERM to each process (the server finishes its requests), SIGKILL after 5 s.
    pub(crate) fn stop(&mut self) {
        for (_, child) in &self.children {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for (_, child) in &mut self.children {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.clear();
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn main(args: &[String]) -> Result<(), String> {
    if args.first().map(String::as_str) == Some("test") {
        return test();
    }
    let mut site_port = 8080u16;
    let mut server_port = 8700u16;
    let mut dir = root().join("target/demo");
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value\n\n{USAGE}"))
        };
        match arg.as_str() {
            "--port" => site_port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--server-port" => {
                server_port = value()?
                    .parse()
                    .map_err(|e| format!("--server-port: {e}"))?
            }
            "--dir" => dir = PathBuf::from(value()?),
            "-h" | "--help" => {
                eprint!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}\n\n{USAGE}")),
        }
    }
    for port in [site_port, server_port] {
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            return Err(format!(
                "port {port} is in use: stop what uses it, or choose others with --port / --server-port"
            ));
        }
    }
    prepare()?;
    let mut stack = start(&dir, site_port, server_port)?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
    }
    eprintln!(
        "\n  kazashi demo is running.\n\n  Open  {}  (a phone-sized window shows it best)\n  \
         Server {}  ·  state in {}\n\n  Ctrl-C stops it.\n",
        stack.site,
        stack.server,
        dir.display()
    );
    while !stop.load(Ordering::SeqCst) {
        if let Some(name) = stack.exited() {
            stack.stop();
            return Err(format!("{name} stopped unexpectedly; see its output above"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("\nstopping…");
    stack.stop();
    eprintln!("stopped.");
    Ok(())
}

/// Builds what the demo runs: the server (release) and the npm package, installed next to the
/// provider backend as a user would install it.
pub(crate) fn prepare() -> Result<(), String> {
    let root = root();
    pcsc::ensure_build_dependencies()?;
    util::ensure_node()?;
    step("demo: kazashi-server (release)");
    run(
        &root,
        "cargo",
        &["build", "--release", "-p", "kazashi-server"],
    )?;
    let tarball = sdk::build()?;
    step("demo: the npm package kazashi, installed next to the provider backend");
    let backend = root.join("examples/provider-node");
    let tarball = tarball
        .to_str()
        .ok_or("the tarball's path is not UTF-8")?
        .to_owned();
    run(
        &backend,
        "npm",
        &[
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--no-package-lock",
            &tarball,
        ],
    )
}

fn server_binary() -> PathBuf {
    root().join("target/release/kazashi-server")
}

/// Runs `kazashi-server` with `args` (an admin command) and returns its stdout.
fn server_cli(data: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(server_binary())
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not run kazashi-server: {e}"))?;
    if !out.status.success() {
        return Err(format!("kazashi-server {} failed", args.join(" ")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))
}

/// Sets up `dir` (once: server data, the provider's key and registration, the phone's chip)
/// and starts the server and the provider backend.
pub(crate) fn start(dir: &Path, site_port: u16, server_port: u16) -> Result<Stack, String> {
    let root = root();
    let data = dir.join("server");
    let provider = dir.join("provider");
    let phone = dir.join("phone");
    for d in [&data, &provider, &phone] {
        fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let backend = root.join("examples/provider-node");
    let server_url = format!("http://127.0.0.1:{server_port}");

    step("demo: registering the provider and personalizing the phone's chip (first run only)");
    let listed = server_cli(&data, &["provider", "list"])?;
    if !listed
        .lines()
        .any(|l| l.split_whitespace().next() == Some(PROVIDER))
    {
        let out = Command::new("node")
            .args(["server.mjs", "jwks", "--data", path_str(&provider)?])
            .current_dir(&backend)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("could not run node: {e}"))?;
        if !out.status.success() {
            return Err("the provider backend could not make its key".into());
        }
        let jwks = provider.join("provider.jwks");
        fs::write(&jwks, &out.stdout)
            .map_err(|e| format!("cannot write {}: {e}", jwks.display()))?;
        server_cli(
            &data,
            &[
                "provider",
                "add",
                "--id",
                PROVIDER,
                "--jwks",
                path_str(&jwks)?,
            ],
        )?;
    }
    let state = phone.join("chip.json");
    let chip_file = phone.join("chip-id");
    let chip = match fs::read_to_string(&chip_file) {
        Ok(id) if state.exists() => id.trim().to_owned(),
        _ => {
            let id = server_cli(
                &data,
                &["chip", "personalize", "--state", path_str(&state)?],
            )?;
            fs::write(&chip_file, &id).map_err(|e| format!("cannot write the chip id: {e}"))?;
            id
        }
    };

    step("demo: starting kazashi-server and the provider backend");
    let mut stack = Stack {
        site: format!("http://127.0.0.1:{site_port}/"),
        server: server_url.clone(),
        children: Vec::new(),
    };
    let server = Command::new(server_binary())
        .args(["serve", "--listen", &format!("127.0.0.1:{server_port}")])
        .args(["--public-url", &server_url, "--data-dir"])
        .arg(&data)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .spawn()
        .map_err(|e| format!("could not start kazashi-server: {e}"))?;
    stack.children.push(("kazashi-server".into(), server));
    wait_http(&format!("{server_url}/healthz"), &mut stack)?;
    let site = Command::new("node")
        .args(["server.mjs", "serve", "--kazashi", &server_url])
        .args(["--listen", &format!("127.0.0.1:{site_port}")])
        .args(["--data", path_str(&provider)?])
        .args(["--www", path_str(&root.join("www"))?])
        .args(["--phone-state", path_str(&state)?, "--phone-chip", &chip])
        .current_dir(&backend)
        .spawn()
        .map_err(|e| format!("could not start the provider backend: {e}"))?;
    stack.children.push(("the provider backend".into(), site));
    let config = format!("http://127.0.0.1:{site_port}/api/config");
    wait_http(&config, &mut stack)?;
    Ok(stack)
}

/// Waits until `url` answers 200 (with curl-free std: a raw HTTP/1.0 GET).
fn wait_http(url: &str, stack: &mut Stack) -> Result<(), String> {
    let rest = url.strip_prefix("http://").ok_or("not an http URL")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(name) = stack.exited() {
            return Err(format!(
                "{name} exited while starting; see its output above"
            ));
        }
        if let Ok(mut stream) = std::net::TcpStream::connect(host) {
            use std::io::{Read, Write};
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let request = format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
            let mut answer = String::new();
            let answered = stream.write_all(request.as_bytes()).is_ok()
                && stream.read_to_string(&mut answer).is_ok();
            if answered
                && (answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"))
            {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("{url} did not answer within 30 s"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The demo's browser tests: the stack in a scratch directory, driven by Chromium.
pub(crate) fn test() -> Result<(), String> {
    prepare()?;
    util::ensure_chromium()?;
    let root = root();
    let tests = root.join("tests/demo");
    util::npm_install(&tests)?;
    let dir = root.join("target/demo-test");
    let _ = fs::remove_dir_all(&dir);
    let (site_port, server_port) = (free_port()?, free_port()?);
    let stack = start(&dir, site_port, server_port)?;
    step("demo: the three flows and the tamper switch in Chromium (mobile and desktop)");
    let artifacts = root.join("target/test-artifacts/demo");
    let result = util::run_env(
        &tests,
        "node",
        &["--test", "--test-concurrency=1"],
        &[
            ("KAZASHI_DEMO_URL", &stack.site),
            ("KAZASHI_ARTIFACTS", path_str(&artifacts)?),
        ],
    );
    drop(stack);
    result
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}
