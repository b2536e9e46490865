//! kazashi's project tasks: `cargo xtask demo`, `cargo xtask test`, `cargo xtask fuzz`.
//!
//! Every task installs what it needs (rustup target, Debian packages, npm packages) and says
//! clearly what is missing when it cannot.

mod demo;
mod fuzz;
mod pcsc;
mod postgres;
mod sdk;
mod util;

use std::process::ExitCode;

use util::{root, run, step};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  demo [--port P] [--server-port P] [--dir DIR]
                       the main job: the demo site against kazashi-server (Ctrl-C stops it)
  test                 everything: format, lints, Rust tests, wasm build, Node interop, fuzz smoke
  fuzz [--seconds N] [--list] [TARGET...]
                       run the fuzz targets (default: all, 60 s each)
  bench                run the criterion benchmarks
  sdk [build|test|bench]
                       the npm package `kazashi`: build and pack it, test it as installed, benchmark it

environment:
  KAZASHI_FUZZ_SECONDS  seconds per fuzz target inside `test` (default 10; 0 builds only)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo::main(&args[1..]),
        Some("test") => test(),
        Some("fuzz") => fuzz::main(&args[1..]),
        Some("sdk") => sdk::main(&args[1..]),
        Some("bench") => run(&root(), "cargo", &["bench", "--workspace"]),
        Some("-h" | "--help" | "help") => {
            eprint!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown or missing task\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("\nxtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn test() -> Result<(), String> {
    let root = root();
    util::ensure_wasm_target()?;
    util::ensure_node()?;
    pcsc::ensure()?;
    util::ensure_pdf_tools()?;
    postgres::ensure()?;

    step("format");
    run(&root, "cargo", &["fmt", "--all", "--", "--check"])?;

    step("lints");
    run(
        &root,
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;

    // The npm package's fallback module is a feature of its crate: lint it too.
    run(
        &root,
        "cargo",
        &[
            "clippy",
            "-p",
            "kazashi-sdk-wasm",
            "--features",
            "rustcrypto",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;

    step("Rust tests");
    run(&root, "cargo", &["test", "--workspace"])?;

    // The workspace run unifies features: the server turns on the protocol's
    // `precomputed-tables` and `ring`, so the protocol's own tests also run without them
    // (the p256 paths that the wasm SDK and the kiosk use).
    step("protocol tests without optional features");
    run(&root, "cargo", &["test", "-p", "kazashi-protocol"])?;

    step("benchmarks compile");
    run(&root, "cargo", &["bench", "--workspace", "--no-run"])?;

    step("protocol core builds for wasm32-unknown-unknown");
    run(
        &root,
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "kazashi-protocol",
            "--target",
            "wasm32-unknown-unknown",
        ],
    )?;

    step("interoperability with the npm package jose (Node)");
    run(
        &root,
        "cargo",
        &["build", "--release", "-p", "kazashi-interop-cli"],
    )?;
    let interop = root.join("tests/interop");
    util::npm_install(&interop)?;
    run(&interop, "node", &["--test"])?;

    step(
        "end to end: a provider using only jose, kazashi-server, the common app, a virtual chip (in process, and through pcscd with --reader)",
    );
    run(
        &root,
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "kazashi-server",
            "-p",
            "kazashi-relay",
            "-p",
            "kazashi-se",
        ],
    )?;
    let e2e = root.join("tests/e2e");
    util::npm_install(&e2e)?;
    run(&e2e, "node", &["--test"])?;

    sdk::test()?;
    demo::test()?;
    let seconds: u64 = std::env::var("KAZASHI_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    step(&format!("fuzz targets ({seconds} s each)"));
    let targets = fuzz::targets();
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    fuzz::run(&targets, seconds)?;

    eprintln!("\nxtask test: all steps passed");
    Ok(())
}
