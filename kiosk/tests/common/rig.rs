//! Shared by the kiosk's PC/SC system tests (`pcsc`, `pcsc_write`, `collect`): the `main` of a
//! `harness = false` test, a private `pcscd` with vsmartcard's vpcd (`Pcscd` of
//! `se/tests/common/procs.rs`, the chip's test rig, re-exported as `procs`), the kiosk binary's
//! commands against it, `kazashi-kiosk phone` attached to vpcd, and the checks of a command's
//! output.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "../../../se/tests/common/procs.rs"]
pub mod procs;

use procs::{Guard, Pcscd};

/// The kiosk binary under test.
pub const KIOSK: &str = env!("CARGO_BIN_EXE_kazashi-kiosk");

/// The `main` of a PC/SC system test named `name`: skipped when filtered out; fails when
/// pcscd or vpcd is missing (unless `KAZASHI_SKIP_PCSC=1`) or `needs` names something else
/// missing; otherwise runs `scenario` and reports it as libtest does.
pub fn main(
    name: &str,
    needs: impl FnOnce() -> Option<String>,
    scenario: impl FnOnce(),
) -> ExitCode {
    if procs::filtered_out(name) {
        return ExitCode::SUCCESS;
    }
    println!("\nrunning 1 test");
    let started = Instant::now();
    if !procs::have("pcscd") || !procs::have(procs::VPCD_DRIVER) {
        if std::env::var("KAZASHI_SKIP_PCSC").as_deref() == Ok("1") {
            println!("test {name} ... skipped (KAZASHI_SKIP_PCSC=1)");
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "test {name} FAILED: pcscd and vsmartcard-vpcd are not installed. Run `cargo xtask \
             test` (it installs them), or set KAZASHI_SKIP_PCSC=1 to skip."
        );
        return ExitCode::FAILURE;
    }
    if let Some(missing) = needs() {
        eprintln!("test {name} FAILED: {missing}");
        return ExitCode::FAILURE;
    }
    scenario();
    println!(
        "test {name} ... ok ({:.1} s)\n\ntest result: ok. 1 passed; 0 failed",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

/// A scratch directory and a private pcscd with vpcd on free ports.
pub struct Rig {
    /// The scratch directory (removed by [`Rig::remove`]).
    pub dir: PathBuf,
    /// The private pcscd.
    pub pcscd: Pcscd,
}

impl Rig {
    /// A new scratch directory `name` and a pcscd in it.
    pub fn start(name: &str) -> Self {
        let dir = procs::scratch(name);
        let pcscd = Pcscd::start(&dir, procs::free_port_pair());
        Self { dir, pcscd }
    }

    /// A kiosk command against this pcscd, without stdin.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(KIOSK);
        command
            .args(args)
            .env(self.pcscd.env().0, self.pcscd.env().1)
            .stdin(Stdio::null());
        command
    }

    /// Runs a kiosk command to its end.
    pub fn kiosk(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `kazashi-kiosk pki --out <dir>/<set>`: a test issuer and reader.
    pub fn make_pki(&self, set: &str) {
        let out = self.kiosk(&["pki", "--out", self.dir.join(set).to_str().unwrap()]);
        assert!(out.status.success(), "pki: {}", text(&out));
    }

    /// A new virtual chip state in `path` (`kazashi-se`'s store).
    pub fn new_chip(&self, path: &Path) {
        kazashi_se::Store::new(path)
            .create(&kazashi_se::CardState::new(kazashi_se::Profile::random(
                &mut rand_core::OsRng,
            )))
            .unwrap();
    }

    /// Starts `kazashi-kiosk phone --vpcd … --state <state> <extra>` (with `env` set, its
    /// stderr in `log`) and waits until vpcd has it: the phone, or `None` (the phone killed)
    /// when vpcd did not take it within 10 s.
    pub fn try_phone(
        &self,
        state: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
        log: &Path,
    ) -> Option<Guard> {
        let mut guard = Guard::spawn(
            "kazashi-kiosk phone",
            Command::new(KIOSK)
                .args([
                    "phone",
                    "--vpcd",
                    &format!("127.0.0.1:{}", self.pcscd.port),
                    "--state",
                ])
                .arg(state)
                .args(extra)
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(log).unwrap()),
        );
        if procs::wait_for_log(log, "connected to vpcd", 1, Duration::from_secs(10)) {
            Some(guard)
        } else {
            guard.kill();
            None
        }
    }

    /// [`try_phone`](Self::try_phone) without `env`, failing the test when vpcd does not
    /// take the phone.
    pub fn phone(&self, state: &Path, extra: &[&str], log: &Path) -> Guard {
        self.try_phone(state, extra, &[], log).unwrap_or_else(|| {
            panic!(
                "the phone did not attach to vpcd:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        })
    }

    /// Stops pcscd and removes the scratch directory.
    pub fn remove(self) {
        let dir = self.dir.clone();
        drop(self);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A command's exit status, stdout and stderr, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The command failed with exit `code` and the error code `error` on stderr, and printed
/// nothing on stdout.
pub fn assert_fails(output: &Output, code: i32, error: &str) {
    assert_eq!(output.status.code(), Some(code), "{}", text(output));
    assert!(
        output.stdout.is_empty(),
        "no partial output: {}",
        text(output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("[{error}]")), "{}", text(output));
}
