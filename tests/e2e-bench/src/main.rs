//! `kazashi-e2e-bench`: the online flow measured over HTTP against a real `kazashi-server`
//! (SQLite), with the `kazashi-relay` library and virtual chips.
//!
//! - `latency [--delay-ms 50] [--runs 30]`: the relay reaches the server through a TCP proxy
//!   that adds the delay in each direction; prints the relay's time per transaction (from the
//!   launch URL to the verified result) and the HTTP exchanges it took.
//! - `load [--seconds 10] [--relays 32]`: many relays at once, each with its own chip, no
//!   added latency; prints completed transactions per second, latency percentiles and the
//!   server's memory.
//!
//! The server binary is taken from beside this one (`cargo build --release -p kazashi-server
//! -p kazashi-e2e-bench`, or `--profile profiling` for `perf`), else from `target/release`.

mod proxy;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kazashi_protocol::envelope::{self, Audience, CommandClaims, Op, ResultPolicy, Status};
use kazashi_protocol::jose::{Jwk, JwkSet, PrivateKey, PublicKey};
use kazashi_relay::{HttpClient, Relay};
use kazashi_se::{Store, VirtualCard};

type Error = Box<dyn std::error::Error + Send + Sync>;

const PROVIDER: &str = "bench-provider";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let option = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let result = match args.first().map(String::as_str) {
        Some("latency") => latency(option("--delay-ms", 50), option("--runs", 30)),
        Some("load") => load(option("--seconds", 10), option("--relays", 32) as usize),
        _ => Err("usage: kazashi-e2e-bench (latency [--delay-ms N] [--runs N] | load [--seconds N] [--relays N])".into()),
    };
    if let Err(e) = result {
        eprintln!("kazashi-e2e-bench: {e}");
        std::process::exit(1);
    }
}

/// A server on SQLite in a temporary data directory, killed on drop.
struct Server {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
    id: String,
    provider: PrivateKey,
    encryption: PublicKey,
    jwks: JwkSet,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A binary built beside this one (same profile: `target/release`, `target/profiling`), else
/// from `target/release`.
fn binary(name: &str) -> PathBuf {
    if let Some(beside) = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(name)))
        .filter(|p| p.exists())
    {
        return beside;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.join("target/release").join(name)
}

fn free_port() -> Result<u16, Error> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn admin(dir: &Path, args: &[&str]) -> Result<String, Error> {
    let out = Command::new(binary("kazashi-server"))
        .args(args)
        .args(["--data-dir", dir.to_str().ok_or("path")?])
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(format!("kazashi-server {args:?} failed").into());
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

impl Server {
    /// Starts a server whose launch URLs point at `public` (the proxy), or at itself.
    fn start(public: impl FnOnce(SocketAddr) -> Result<SocketAddr, Error>) -> Result<Self, Error> {
        let dir = std::env::temp_dir().join(format!("kazashi-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let public = public(addr)?;
        let id = "https://bench.kazashi.test".to_owned();
        let provider = PrivateKey::generate(&mut rand_core::OsRng);
        let jwks_file = dir.join("provider.jwks");
        std::fs::write(
            &jwks_file,
            JwkSet {
                keys: vec![provider.public_key().to_jwk()],
            }
            .to_json(),
        )?;
        admin(
            &dir,
            &[
                "provider",
                "add",
                "--id",
                PROVIDER,
                "--jwks",
                jwks_file.to_str().ok_or("path")?,
            ],
        )?;
        let child = Command::new(binary("kazashi-server"))
            .args(["serve", "--data-dir", dir.to_str().ok_or("path")?])
            .args(["--listen", &addr.to_string(), "--id", &id])
            .args(["--public-url", &format!("http://{public}")])
            .env("RUST_LOG", "warn")
            .spawn()?;
        let started = Instant::now();
        let jwks_text = loop {
            if let Ok(mut r) = ureq::get(&format!("http://{addr}/.well-known/jwks.json")).call() {
                break r.body_mut().read_to_string()?;
            }
            if started.elapsed() > Duration::from_secs(20) {
                return Err("the server did not start".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let jwks = JwkSet::from_json(jwks_text.as_bytes())?;
        let enc: &Jwk = jwks
            .keys
            .iter()
            .find(|k| k.use_.as_deref() == Some("enc"))
            .ok_or("no encryption key in the JWKS")?;
        let encryption = PublicKey::from_jwk(enc)?;
        Ok(Self {
            child,
            dir,
            addr,
            id,
            provider,
            encryption,
            jwks,
        })
    }

    /// Personalizes a virtual chip; returns its id and state file.
    fn chip(&self, n: usize) -> Result<(String, PathBuf), Error> {
        let state = self.dir.join(format!("chip-{n}.json"));
        let id = admin(
            &self.dir,
            &[
                "chip",
                "personalize",
                "--state",
                state.to_str().ok_or("path")?,
            ],
        )?;
        Ok((id, state))
    }

    /// Registers a command for `chip`; returns the launch URL and the command's jti.
    fn register(&self, agent: &ureq::Agent, chip: &str, n: u64) -> Result<(String, String), Error> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let jti = format!("bench-{}-{chip}-{n}", std::process::id());
        let claims = CommandClaims {
            iss: PROVIDER.into(),
            aud: Audience::from(self.id.as_str()),
            jti: jti.clone(),
            iat: now,
            exp: now + 120,
            nbf: None,
            sub: Some(chip.into()),
            ops: vec![
                Op::Put {
                    record: "resident-id".into(),
                    data: vec![0x42; 256],
                },
                Op::Add {
                    counter: "points".into(),
                    amount: 10,
                },
                Op::Get {
                    record: "resident-id".into(),
                },
            ],
        };
        let sealed = envelope::seal_command(
            &claims,
            &self.provider,
            &self.encryption,
            &mut rand_core::OsRng,
        )?;
        let mut response = agent
            .post(&format!("http://{}/v1/transactions", self.addr))
            .header("content-type", "application/jose")
            .send(sealed.as_str())?;
        let body: serde_json::Value = serde_json::from_str(&response.body_mut().read_to_string()?)?;
        let url = body["launch_url"]
            .as_str()
            .ok_or("no launch_url")?
            .to_owned();
        Ok((url, jti))
    }

    fn verify(&self, token: &str, jti: &str) -> Result<(), Error> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let policy = ResultPolicy {
            server_keys: &self.jwks,
            issuer: &self.id,
            audience: PROVIDER,
            command: Some(jti),
            provider_key: None,
            now,
            leeway: 60,
            max_age: Some(300),
        };
        let verified = envelope::verify_result(token, &policy)?;
        if verified.claims.status != Status::Ok {
            return Err(format!("transaction failed: {:?}", verified.claims.reason).into());
        }
        Ok(())
    }

    /// The server's CPU time so far (user + system), from /proc.
    fn cpu(&self) -> Duration {
        process_cpu(&self.child.id().to_string())
    }

    fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }
}

/// A process's CPU time so far (user + system), from /proc (`pid` or `self`).
fn process_cpu(pid: &str) -> Duration {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = after.split_whitespace().collect();
            // Fields 14 and 15 of proc(5) (utime, stime), counted after the name.
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// The machine's busy and total CPU time so far, from /proc/stat (in USER_HZ ticks).
fn machine_cpu() -> (u64, u64) {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let line = s.lines().next()?;
            let ticks: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|t| t.parse().ok())
                .collect();
            let total: u64 = ticks.iter().sum();
            // idle and iowait
            let idle = ticks.get(3)? + ticks.get(4).copied().unwrap_or(0);
            Some((total - idle, total))
        })
        .unwrap_or((0, 0))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn latency(delay_ms: u64, runs: u64) -> Result<(), Error> {
    let delay = Duration::from_millis(delay_ms);
    let server = Server::start(|upstream| Ok(proxy::start(upstream, delay)?))?;
    let (chip, state) = server.chip(0)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut card = VirtualCard::open(Store::new(&state))?;
    let mut times = Vec::new();
    let mut exchanges = Vec::new();
    for n in 0..runs {
        let (url, jti) = server.register(&agent, &chip, n)?;
        let http = HttpClient::new();
        let mut relay = Relay::new(&mut card, http);
        let started = Instant::now();
        let token = relay.run(&url)?;
        times.push(started.elapsed());
        exchanges.push(relay.http().exchanges());
        server.verify(&token, &jti)?;
    }
    times.sort();
    println!(
        "latency: {runs} in-step transactions (put 256 B, add, get), relay through a proxy adding {delay_ms} ms each way"
    );
    println!(
        "  relay time, launch URL to result: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.95)),
        ms(percentile(&times, 1.0))
    );
    println!(
        "  HTTP exchanges per transaction: min {}, max {}",
        exchanges.iter().min().unwrap_or(&0),
        exchanges.iter().max().unwrap_or(&0)
    );
    Ok(())
}

fn load(seconds: u64, relays: usize) -> Result<(), Error> {
    let server = Arc::new(Server::start(Ok)?);
    let chips: Vec<(String, PathBuf)> = (0..relays)
        .map(|n| server.chip(n))
        .collect::<Result<_, _>>()?;
    let cpu_before = server.cpu();
    let bench_before = process_cpu("self");
    let machine_before = machine_cpu();
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let threads: Vec<_> = chips
        .into_iter()
        .map(|(chip, state)| {
            let (server, done, failed, stop, latencies) = (
                server.clone(),
                done.clone(),
                failed.clone(),
                stop.clone(),
                latencies.clone(),
            );
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                // The chip's state in memory: a real chip keeps it in its own EEPROM, not on
                // the server's machine (the file-backed card fsyncs every change).
                let Ok(mut card) = Store::new(&state).load().map(VirtualCard::in_memory) else {
                    return;
                };
                // The relay app keeps its HTTP client (and so its keep-alive connection)
                // from one transaction to the next, as an app (or a TLS-terminating proxy in
                // front of the server) does.
                let http = HttpClient::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let t = Instant::now();
                    let outcome = server.register(&agent, &chip, n).and_then(|(url, jti)| {
                        let token = Relay::new(&mut card, http.clone()).run(&url)?;
                        server.verify(&token, &jti)
                    });
                    match outcome {
                        Ok(()) => {
                            done.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut l) = latencies.lock() {
                                l.push(t.elapsed());
                            }
                        }
                        Err(e) => {
                            if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                                eprintln!("transaction failed: {e}");
                            }
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let rss = server.rss_kib();
    for t in threads {
        let _ = t.join();
    }
    let server_cpu = server.cpu().saturating_sub(cpu_before);
    let bench_cpu = process_cpu("self").saturating_sub(bench_before);
    let machine_after = machine_cpu();
    let machine_busy = machine_after.0.saturating_sub(machine_before.0) as f64;
    let machine_total = machine_after.1.saturating_sub(machine_before.1).max(1) as f64;
    let elapsed = started.elapsed().as_secs_f64();
    let mut l = latencies.lock().map_err(|_| "lock")?.clone();
    l.sort();
    let done = done.load(Ordering::Relaxed);
    println!(
        "load: {relays} relays, each with its own virtual chip, {seconds} s, SQLite; each transaction = register (seal) + relay + verify"
    );
    println!(
        "  completed {done} ({:.0}/s), failed {}",
        done as f64 / elapsed,
        failed.load(Ordering::Relaxed)
    );
    println!(
        "  latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms; server RSS {} MiB",
        ms(percentile(&l, 0.5)),
        ms(percentile(&l, 0.95)),
        ms(percentile(&l, 0.99)),
        rss / 1024
    );
    let per_tx = server_cpu.as_secs_f64() / done.max(1) as f64;
    println!(
        "  server CPU {:.2} s in all, {:.2} ms per transaction: {:.0} transactions/s per core of the server alone",
        server_cpu.as_secs_f64(),
        per_tx * 1e3,
        1.0 / per_tx.max(1e-9)
    );
    println!(
        "  benchmark CPU (provider, relays, chips) {:.2} s in all, {:.2} ms per transaction",
        bench_cpu.as_secs_f64(),
        bench_cpu.as_secs_f64() * 1e3 / done.max(1) as f64
    );
    println!(
        "  machine: {:.0}% of {} cores busy (everything running, not only this benchmark)",
        100.0 * machine_busy / machine_total,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    Ok(())
}
