//! `cargo xtask sdk`: the npm package `kazashi`, built into `sdk-wasm/pkg/` and packed; and
//! its tests against the packed tarball, installed into a scratch project as a user would.
//!
//! Pipeline, for each of the two wasm modules — the main one (no features: ECDSA, ECDH and AES
//! are left to WebCrypto in JavaScript) and the fallback one (feature `rustcrypto`: they run
//! inside the wasm, for runtimes without WebCrypto): the wasm (`--profile wasm-release`),
//! wasm-bindgen at exactly the version in `Cargo.lock` (installed with `cargo install` when
//! missing), twice (`--target web` for browsers, bundlers and Deno; `--target nodejs` for
//! Node), `wasm-opt` from the npm package `binaryen` (`sdk-wasm/tools/`). Then the
//! hand-written entry points, `package.json` and types from `sdk-wasm/js/`, and `npm pack`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, root, run, run_env, step};

const CRATE: &str = "kazashi-sdk-wasm";
const STEM: &str = "kazashi_sdk_wasm";
/// The `Relay`'s wasm (the common app's run, no cryptography): loaded on a relay's first run.
const RELAY_CRATE: &str = "kazashi-sdk-relay-wasm";
const RELAY_STEM: &str = "kazashi_sdk_relay_wasm";
/// The `kazashi/testing` entry's wasm (kazashi-se's virtual card): a module of its own, so
/// that the main entry does not grow.
const TESTING_CRATE: &str = "kazashi-sdk-testing-wasm";
const TESTING_STEM: &str = "kazashi_sdk_testing_wasm";
/// The `kazashi/offline` entry's wasm (the ISO/IEC 18013-5 reader and holder roles): a module
/// of its own, so that the main entry does not carry the mdoc stack.
const OFFLINE_CRATE: &str = "kazashi-sdk-offline-wasm";
const OFFLINE_STEM: &str = "kazashi_sdk_offline_wasm";
/// The profile of modules built for speed (the fallback's arithmetic, the virtual chip).
const SPEED: &str = "wasm-release";
/// The profile of modules built for size (the main module, the relay's): opt-level "s".
const SIZE: &str = "wasm-size";

/// One of the package's wasm modules.
struct Module {
    /// The cdylib crate.
    krate: &'static str,
    /// The file stem cargo gives its wasm.
    artifact: &'static str,
    /// File stem of the wasm and its glue in the package.
    stem: &'static str,
    /// Cargo features of `kazashi-sdk-wasm`.
    features: &'static str,
    /// Cargo profile: [`SPEED`] or [`SIZE`].
    profile: &'static str,
    /// wasm-opt level.
    level: &'static str,
}

const MODULES: [Module; 5] = [
    // The main module: parsing and checks only (its cryptography is WebCrypto's). Built for
    // size: opt-level "s" and -Oz make it about a sixth smaller than opt-level 3 and -O3, at a
    // few per cent of each operation's time (docs/performance.md).
    Module {
        krate: CRATE,
        artifact: STEM,
        stem: STEM,
        features: "",
        profile: SIZE,
        level: "-Oz",
    },
    // The fallback: P-256 and AES arithmetic inside.
    Module {
        krate: CRATE,
        artifact: STEM,
        stem: "kazashi_sdk_wasm_rustcrypto",
        features: "rustcrypto",
        profile: SPEED,
        level: "-O3",
    },
    // The `Relay`'s module (the common app's run, no cryptography): loaded on a relay's first
    // run. Built on its own, like the next, so that features do not unify into the main one.
    Module {
        krate: RELAY_CRATE,
        artifact: RELAY_STEM,
        stem: RELAY_STEM,
        features: "",
        profile: SIZE,
        level: "-Oz",
    },
    // `kazashi/testing`'s module (kazashi-se's virtual card).
    Module {
        krate: TESTING_CRATE,
        artifact: TESTING_STEM,
        stem: TESTING_STEM,
        features: "",
        profile: SPEED,
        level: "-O3",
    },
    // `kazashi/offline`'s module (the 18013-5 terminal and phone roles). -Oz would save 16 KB
    // raw and nothing gzipped (docs/performance.md).
    Module {
        krate: OFFLINE_CRATE,
        artifact: OFFLINE_STEM,
        stem: OFFLINE_STEM,
        features: "",
        profile: SPEED,
        level: "-O3",
    },
];

const USAGE: &str = "\
usage: cargo xtask sdk [build|test|bench]

  build   (default) build sdk-wasm/pkg/ and pack it into target/sdk/kazashi-<version>.tgz
  test    build, install the tarball into target/sdk-tests/ and run its suites (Node, the
          relay against kazashi-server, the leak test, Chromium pages)
  bench   build, then run sdk-wasm/bench/: Node against jose and @noble/curves, and
          Chromium's import-to-first-verified-result time
";

/// `cargo xtask sdk …`.
pub(crate) fn main(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        None | Some("build") => build().map(|tarball| {
            eprintln!("\npacked {}", tarball.display());
        }),
        Some("test") => test(),
        Some("bench") => bench(),
        Some("-h" | "--help" | "help") => {
            eprint!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown sdk task\n\n{USAGE}")),
    }
}

/// Builds and packs the package; returns the tarball's path.
pub(crate) fn build() -> Result<PathBuf, String> {
    let root = root();
    util::ensure_wasm_target()?;
    util::ensure_node()?;

    let bindgen = ensure_wasm_bindgen(&root)?;
    let wasm_opt = ensure_wasm_opt(&root)?;

    let pkg = root.join("sdk-wasm/pkg");
    let scratch = root.join("target/sdk/bindgen");
    for dir in [&pkg, &scratch] {
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
        }
    }
    mkdir(&scratch)?;
    for Module {
        krate,
        artifact,
        stem,
        features,
        profile,
        level,
    } in MODULES
    {
        step(&format!(
            "npm package: wasm {stem} (features: {features:?}, wasm-opt {level})"
        ));
        let mut args = vec![
            "build",
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            profile,
            "-p",
            krate,
        ];
        if !features.is_empty() {
            args.extend(["--features", features]);
        }
        run(&root, "cargo", &args)?;
        // Cargo names the artifact after the crate whatever the features: copy it under the
        // module's name, which wasm-bindgen gives its output.
        let wasm = scratch.join(format!("{stem}.wasm"));
        copy(
            &root.join(format!(
                "target/wasm32-unknown-unknown/{profile}/{artifact}.wasm"
            )),
            &wasm,
        )?;
        for (target, dir) in [("web", "web"), ("nodejs", "node")] {
            step(&format!(
                "npm package: wasm-bindgen --target {target} {stem}"
            ));
            let out = scratch.join(dir);
            run(
                &root,
                &bindgen,
                &[
                    "--target",
                    target,
                    "--no-typescript",
                    "--out-dir",
                    path_str(&out)?,
                    path_str(&wasm)?,
                ],
            )?;
            let optimized = pkg.join(dir).join(format!("{stem}_bg.wasm"));
            mkdir(&pkg.join(dir))?;
            run(
                &root,
                path_str(&wasm_opt)?,
                &[
                    level,
                    "--enable-bulk-memory",
                    "--enable-nontrapping-float-to-int",
                    "--enable-sign-ext",
                    "--enable-mutable-globals",
                    "--enable-reference-types",
                    "--enable-multivalue",
                    path_str(&out.join(format!("{stem}_bg.wasm")))?,
                    "-o",
                    path_str(&optimized)?,
                ],
            )?;
            // The nodejs glue is CommonJS in a `"type": "module"` package: name it `.cjs`.
            let glue_name = if dir == "node" {
                format!("{stem}.cjs")
            } else {
                format!("{stem}.js")
            };
            copy(
                &out.join(format!("{stem}.js")),
                &pkg.join(dir).join(glue_name),
            )?;
        }
    }

    step("npm package: entry points, types, package.json");
    let js = root.join("sdk-wasm/js");
    for name in [
        "api.js",
        "browser.js",
        "browser-rustcrypto.js",
        "node.cjs",
        "node.mjs",
        "node-rustcrypto.cjs",
        "node-rustcrypto.mjs",
        "relay.js",
        "index.d.ts",
        "testing-api.js",
        "testing.js",
        "testing.cjs",
        "testing.mjs",
        "testing.d.ts",
        "offline-api.js",
        "offline.js",
        "offline.cjs",
        "offline.mjs",
        "offline.d.ts",
        "package.json",
    ] {
        copy(&js.join(name), &pkg.join(name))?;
    }
    copy(&js.join("index.d.ts"), &pkg.join("index.d.cts"))?;
    copy(&js.join("testing.d.ts"), &pkg.join("testing.d.cts"))?;
    copy(&js.join("offline.d.ts"), &pkg.join("offline.d.cts"))?;
    copy(&js.join("README.md"), &pkg.join("README.md"))?;
    // The ESM sources shared by the browser and Node entries, as CommonJS for Node.
    for name in ["api", "relay", "testing-api", "offline-api"] {
        let esm = read(&js.join(format!("{name}.js")))?;
        fs::write(pkg.join(format!("{name}.cjs")), commonjs(&esm)?)
            .map_err(|e| format!("cannot write {name}.cjs: {e}"))?;
    }

    step("npm package: npm pack");
    let dest = root.join("target/sdk");
    mkdir(&dest)?;
    let output = Command::new("npm")
        .args(["pack", "--silent", "--pack-destination"])
        .arg(&dest)
        .current_dir(&pkg)
        .output()
        .map_err(|e| format!("could not start npm: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "npm pack failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let name = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    let tarball = dest.join(&name);
    if name.is_empty() || !tarball.exists() {
        return Err(format!("npm pack did not report its tarball ({name:?})"));
    }
    report_sizes(&pkg);
    Ok(tarball)
}

/// Builds, installs the tarball into `target/sdk-tests/` and runs the suites there: Node (ESM,
/// CommonJS, the browser entry, the relay against a running kazashi-server, the leak test)
/// and Chromium (a Vite-bundled page and a plain module page).
pub(crate) fn test() -> Result<(), String> {
    let tarball = build()?;
    let server = server_binary()?;
    let kiosk = kiosk_binary()?;
    util::ensure_chromium()?;
    let project = scratch_project("npm-tests", "sdk-tests", &tarball)?;
    step("npm package: Node and Chromium suites against the installed tarball");
    run_env(
        &project,
        "node",
        &["--test"],
        &[
            ("KAZASHI_SERVER", path_str(&server)?),
            ("KAZASHI_KIOSK", path_str(&kiosk)?),
        ],
    )
}

/// Builds, installs the tarball next to the benchmarks and runs them: Node against jose and
/// @noble/curves, then Chromium's time from import to the first verified result.
pub(crate) fn bench() -> Result<(), String> {
    let tarball = build()?;
    util::ensure_chromium()?;
    let project = scratch_project("bench", "sdk-bench", &tarball)?;
    step("npm package: benchmark against jose and @noble/curves");
    run(&project, "node", &["bench.mjs"])?;
    step("npm package: Chromium, import to first verified result");
    run(&project, "node", &["browser-bench.mjs"])
}

/// `kazashi-server`, release build (the relay tests run transactions against it).
fn server_binary() -> Result<PathBuf, String> {
    let root = root();
    step("npm package: kazashi-server for the relay tests");
    run(
        &root,
        "cargo",
        &["build", "--release", "-p", "kazashi-server"],
    )?;
    Ok(root.join("target/release/kazashi-server"))
}

/// `kazashi-kiosk`, debug build (the offline tests play its phone and reader roles against
/// the package's), and what its PC/SC side needs (pcscd with vpcd, for the holder test).
fn kiosk_binary() -> Result<PathBuf, String> {
    let root = root();
    crate::pcsc::ensure_pcscd()?;
    step("npm package: kazashi-kiosk for the offline tests");
    run(&root, "cargo", &["build", "-p", "kazashi-kiosk"])?;
    Ok(root.join("target/debug/kazashi-kiosk"))
}

/// Copies `sdk-wasm/<source>/` (without node_modules) to `target/<name>/`, `npm ci`s it from
/// its lock file, then installs the packed tarball without saving it, as a user would.
fn scratch_project(source: &str, name: &str, tarball: &Path) -> Result<PathBuf, String> {
    let root = root();
    let from = root.join("sdk-wasm").join(source);
    let project = root.join("target").join(name);
    mkdir(&project)?;
    let entries =
        fs::read_dir(&from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let file_name = entry.file_name();
        if file_name == "node_modules" || !entry.path().is_file() {
            continue;
        }
        copy_if_changed(&entry.path(), &project.join(&file_name))?;
    }
    util::npm_install(&project)?;
    run(
        &project,
        "npm",
        &[
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--no-package-lock",
            path_str(tarball)?,
        ],
    )?;
    Ok(project)
}

/// The wasm-bindgen CLI at exactly the version of the `wasm-bindgen` crate in `Cargo.lock`.
fn ensure_wasm_bindgen(root: &Path) -> Result<String, String> {
    let lock = read(&root.join("Cargo.lock"))?;
    let version =
        locked_version(&lock, "wasm-bindgen").ok_or("Cargo.lock pins no wasm-bindgen version")?;
    let installed = Command::new("wasm-bindgen")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if installed.as_deref() != Some(&format!("wasm-bindgen {version}")) {
        step(&format!(
            "installing wasm-bindgen-cli {version} (the version in Cargo.lock; a few minutes, once)"
        ));
        run(
            root,
            "cargo",
            &[
                "install",
                "wasm-bindgen-cli",
                "--version",
                &version,
                "--force",
            ],
        )?;
    }
    Ok("wasm-bindgen".into())
}

/// `wasm-opt` from the npm package `binaryen`, installed in `sdk-wasm/tools/`.
fn ensure_wasm_opt(root: &Path) -> Result<PathBuf, String> {
    let tools = root.join("sdk-wasm/tools");
    util::npm_install(&tools)?;
    let wasm_opt = tools.join("node_modules/.bin/wasm-opt");
    if wasm_opt.exists() {
        Ok(wasm_opt)
    } else {
        Err(format!("{} is missing after npm ci", wasm_opt.display()))
    }
}

/// The version of `name` in a Cargo.lock (the first, if several).
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let needle = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == needle {
            let version = lines.next()?.trim();
            return version
                .strip_prefix("version = \"")?
                .strip_suffix('"')
                .map(str::to_string);
        }
    }
    None
}

/// `api.js` (or `relay.js`, `testing-api.js`) as CommonJS: its top-level `export function`/`export class` lose `export`, and a
/// `module.exports` names them.
fn commonjs(esm: &str) -> Result<String, String> {
    let mut names = Vec::new();
    let mut out =
        String::from("'use strict';\n// Generated from its ESM source by `cargo xtask sdk`.\n");
    for line in esm.lines() {
        let stripped = line.strip_prefix("export ");
        match stripped {
            Some(rest) => {
                let name = rest
                    .strip_prefix("function ")
                    .or_else(|| rest.strip_prefix("class "))
                    .and_then(|r| r.split(|c: char| !c.is_alphanumeric() && c != '_').next())
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| format!("unsupported export: {line}"))?;
                names.push(name.to_string());
                out.push_str(rest);
            }
            None if line.starts_with("import ") => {
                return Err("a shared ESM source must not import anything".into());
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out.push_str(&format!("module.exports = {{ {} }};\n", names.join(", ")));
    Ok(out)
}

/// Prints the size of each entry's files, raw and gzipped (`gzip -9`).
fn report_sizes(pkg: &Path) {
    step("npm package: sizes (raw / gzip -9)");
    let entries: [(&str, &[&str]); 8] = [
        (
            "main entry, browsers and bundlers (browser.js + api.js + web glue + wasm)",
            &[
                "browser.js",
                "api.js",
                "web/kazashi_sdk_wasm.js",
                "web/kazashi_sdk_wasm_bg.wasm",
            ],
        ),
        (
            "Relay, browser, loaded on its first run (relay.js + web glue + wasm)",
            &[
                "relay.js",
                "web/kazashi_sdk_relay_wasm.js",
                "web/kazashi_sdk_relay_wasm_bg.wasm",
            ],
        ),
        (
            "node entry (node.cjs + api.cjs + node glue + wasm)",
            &[
                "node.cjs",
                "api.cjs",
                "node/kazashi_sdk_wasm.cjs",
                "node/kazashi_sdk_wasm_bg.wasm",
            ],
        ),
        (
            "fallback, loaded only without WebCrypto (web glue + wasm)",
            &[
                "web/kazashi_sdk_wasm_rustcrypto.js",
                "web/kazashi_sdk_wasm_rustcrypto_bg.wasm",
            ],
        ),
        (
            "kazashi/rustcrypto, browsers (browser-rustcrypto.js + api.js + web glue + wasm)",
            &[
                "browser-rustcrypto.js",
                "api.js",
                "web/kazashi_sdk_wasm_rustcrypto.js",
                "web/kazashi_sdk_wasm_rustcrypto_bg.wasm",
            ],
        ),
        (
            "kazashi/rustcrypto, node (node-rustcrypto.cjs + api.cjs + node glue + wasm)",
            &[
                "node-rustcrypto.cjs",
                "api.cjs",
                "node/kazashi_sdk_wasm_rustcrypto.cjs",
                "node/kazashi_sdk_wasm_rustcrypto_bg.wasm",
            ],
        ),
        (
            "kazashi/testing, browser (testing.js + testing-api.js + web glue + wasm)",
            &[
                "testing.js",
                "testing-api.js",
                "web/kazashi_sdk_testing_wasm.js",
                "web/kazashi_sdk_testing_wasm_bg.wasm",
            ],
        ),
        (
            "kazashi/offline, browser (offline.js + offline-api.js + web glue + wasm)",
            &[
                "offline.js",
                "offline-api.js",
                "web/kazashi_sdk_offline_wasm.js",
                "web/kazashi_sdk_offline_wasm_bg.wasm",
            ],
        ),
    ];
    for (label, files) in entries {
        let (mut raw, mut gz) = (0u64, 0u64);
        for file in files {
            let path = pkg.join(file);
            let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let zipped = Command::new("gzip")
                .args(["-9", "-c"])
                .arg(&path)
                .output()
                .map(|o| o.stdout.len() as u64)
                .unwrap_or(0);
            eprintln!("  {file:44} {size:>9} B  {zipped:>8} B gzipped");
            raw += size;
            gz += zipped;
        }
        eprintln!("  {label}: {raw} B raw, {gz} B gzipped\n");
    }
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("path is not UTF-8: {}", path.display()))
}

fn mkdir(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

/// Copies only when the content differs, so that `npm ci` is skipped when nothing changed.
fn copy_if_changed(from: &Path, to: &Path) -> Result<(), String> {
    let new = fs::read(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    if fs::read(to).ok().as_deref() == Some(new.as_slice()) {
        return Ok(());
    }
    fs::write(to, new).map_err(|e| format!("cannot write {}: {e}", to.display()))
}
