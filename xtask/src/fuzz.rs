//! `cargo xtask fuzz [--seconds N] [TARGET…]`: runs the libFuzzer targets of `fuzz/` on the
//! stable toolchain.
//!
//! `cargo fuzz` needs nightly only for its default `-Zsanitizer=address`; the protocol core has
//! no `unsafe`, so coverage instrumentation alone (the flags below, all stable) is what matters.
//! The build uses `fuzz/target/<host>/release`, the same directory as `cargo fuzz build -O`, and
//! the same corpus (`fuzz/corpus/TARGET`) and artifact (`fuzz/artifacts/TARGET`) folders, so
//! both tools can be used on one checkout. The corpus is seeded from `fuzz/seeds/TARGET`.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What `cargo fuzz` passes to rustc, minus the sanitizer (which needs nightly).
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "--cfg",
    "fuzzing",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

const DEFAULT_SECONDS: u64 = 60;

const USAGE: &str = "usage: cargo xtask fuzz [--seconds N] [TARGET…]

Builds the fuzz targets of fuzz/ with coverage instrumentation on the stable toolchain and runs
each for N seconds (default 60) over fuzz/corpus/TARGET, seeded from fuzz/seeds/TARGET.
Without TARGET, runs every target in fuzz/fuzz_targets/. Fails if any target crashes.";

/// Parses the command line after `fuzz` and runs the targets.
pub(crate) fn main(args: &[String]) -> Result<(), String> {
    let mut seconds = DEFAULT_SECONDS;
    let mut targets = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => {
                eprintln!("{USAGE}");
                return Ok(());
            }
            "--list" => {
                self::targets()
                    .iter()
                    .for_each(|target| eprintln!("{target}"));
                return Ok(());
            }
            "--seconds" => Some(args.next().ok_or("--seconds needs a value")?.as_str()),
            other => other.strip_prefix("--seconds="),
        };
        match value {
            Some(value) => {
                seconds = value
                    .parse()
                    .ok()
                    .filter(|seconds| *seconds > 0)
                    .ok_or_else(|| format!("--seconds: expected a positive number, got {value}"))?;
            }
            None if arg.starts_with('-') => return Err(format!("unknown option {arg}\n{USAGE}")),
            None => targets.push(arg.as_str()),
        }
    }
    run(&targets, seconds)
}

/// The fuzz targets: the names of `fuzz/fuzz_targets/*.rs`, sorted.
pub(crate) fn targets() -> Vec<String> {
    let Ok(entries) = fs::read_dir(fuzz_dir().join("fuzz_targets")) else {
        return Vec::new();
    };
    let mut targets: Vec<String> = entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            if path.extension()? != "rs" {
                return None;
            }
            Some(path.file_stem()?.to_str()?.to_owned())
        })
        .collect();
    targets.sort();
    targets
}

/// Builds the fuzz crate and runs each of `targets` (all when empty) for `seconds`.
///
/// Fails on the first build error, or after running every target when any of them crashed
/// (exited with an error, or left a new file in `fuzz/artifacts/TARGET`).
pub(crate) fn run(targets: &[&str], seconds: u64) -> Result<(), String> {
    let available = self::targets();
    if available.is_empty() {
        return Err(format!(
            "no fuzz targets in {}",
            fuzz_dir().join("fuzz_targets").display()
        ));
    }
    let selected: Vec<&str> = if targets.is_empty() {
        available.iter().map(String::as_str).collect()
    } else {
        targets.to_vec()
    };
    if let Some(unknown) = selected
        .iter()
        .find(|target| !available.iter().any(|name| name == *target))
    {
        return Err(format!(
            "unknown fuzz target {unknown}; available: {}",
            available.join(", ")
        ));
    }

    let host = host_triple()?;
    build(&selected, &host)?;

    let mut results = Vec::new();
    for target in &selected {
        results.push((*target, run_target(target, &host, seconds)?));
    }

    eprintln!("\nfuzz summary ({seconds} s per target):");
    let mut failures = Vec::new();
    for (target, outcome) in &results {
        let execs = outcome
            .execs
            .map_or_else(|| "?".to_owned(), |execs| execs.to_string());
        let verdict = if outcome.failure.is_some() {
            "CRASH"
        } else {
            "ok"
        };
        eprintln!(
            "  {target:<16} {verdict:<6} {execs:>12} execs  {:>6} corpus files",
            outcome.corpus_files
        );
        if let Some(failure) = &outcome.failure {
            failures.push(format!("{target}: {failure}"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("fuzzing found crashes:\n{}", failures.join("\n")))
    }
}

struct Outcome {
    execs: Option<u64>,
    corpus_files: usize,
    failure: Option<String>,
}

fn root() -> PathBuf {
    // xtask/ sits in the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn fuzz_dir() -> PathBuf {
    root().join("fuzz")
}

fn host_triple() -> Result<String, String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(&rustc)
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run {rustc} -vV: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| format!("{rustc} -vV did not name the host"))
}

fn build(targets: &[&str], host: &str) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let fuzz = fuzz_dir();
    let mut command = Command::new(&cargo);
    command
        .current_dir(root())
        .args(["build", "--release", "--manifest-path"])
        .arg(fuzz.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(fuzz.join("target"))
        // An explicit --target keeps the flags off build scripts and proc macros, which are
        // not linked with libFuzzer.
        .args(["--target", host])
        .env("RUSTFLAGS", RUSTFLAGS.join(" "))
        // Would take precedence over RUSTFLAGS.
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    for target in targets {
        command.args(["--bin", target]);
    }
    eprintln!("building fuzz targets: {}", targets.join(", "));
    let status = command
        .status()
        .map_err(|e| format!("cannot run {cargo}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("building the fuzz targets failed ({status})"))
    }
}

fn run_target(target: &str, host: &str, seconds: u64) -> Result<Outcome, String> {
    let fuzz = fuzz_dir();
    let binary = fuzz.join("target").join(host).join("release").join(target);
    let corpus = fuzz.join("corpus").join(target);
    let artifacts = fuzz.join("artifacts").join(target);
    fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
    fs::create_dir_all(&artifacts).map_err(|e| format!("{}: {e}", artifacts.display()))?;
    seed(&fuzz.join("seeds").join(target), &corpus)?;
    let before = list(&artifacts)?;

    eprintln!("\nfuzzing {target} for {seconds} s");
    let mut child = Command::new(&binary)
        .arg(&corpus)
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!(
            "-artifact_prefix={}{}",
            artifacts.display(),
            std::path::MAIN_SEPARATOR
        ))
        .arg("-print_final_stats=1")
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let mut execs = None;
    if let Some(stderr) = child.stderr.take() {
        let mut in_dictionary = false;
        for line in BufReader::new(stderr).lines() {
            let line = line.map_err(|e| format!("reading {target}'s output: {e}"))?;
            if let Some(count) = line.strip_prefix("stat::number_of_executed_units:") {
                execs = count.trim().parse().ok();
            }
            // Every new coverage point gets a line, and the final dictionary is long: keep the
            // pulses, stats and crash reports.
            let mut words = line.split_whitespace();
            let progress = words.next().is_some_and(|word| word.starts_with('#'))
                && words
                    .next()
                    .is_some_and(|word| matches!(word, "NEW" | "REDUCE"));
            in_dictionary |= line.starts_with("###### Recommended dictionary");
            if !progress && !in_dictionary {
                eprintln!("  {line}");
            }
            in_dictionary &= !line.starts_with("###### End of recommended dictionary");
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for {target}: {e}"))?;

    let new: Vec<PathBuf> = list(&artifacts)?.difference(&before).cloned().collect();
    let failure = if !new.is_empty() || !status.success() {
        let mut message = format!("libFuzzer exited with {status}");
        for artifact in &new {
            message.push_str(&format!(
                "\n  artifact {}\n  reproduce: {} {}\n         or: cargo fuzz run {target} {}",
                artifact.display(),
                binary.display(),
                artifact.display(),
                artifact.display(),
            ));
        }
        Some(message)
    } else {
        None
    };
    Ok(Outcome {
        execs,
        corpus_files: list(&corpus)?.len(),
        failure,
    })
}

/// Copies the committed seeds into the corpus, once.
fn seed(seeds: &Path, corpus: &Path) -> Result<(), String> {
    let Ok(entries) = fs::read_dir(seeds) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry
            .map_err(|e| format!("{}: {e}", seeds.display()))?
            .path();
        let Some(name) = path.file_name() else {
            continue;
        };
        let destination = corpus.join(name);
        if path.is_file() && !destination.exists() {
            fs::copy(&path, &destination).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

fn list(dir: &Path) -> Result<BTreeSet<PathBuf>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(entries
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.is_file())
        .collect())
}
