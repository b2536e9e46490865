//! The `kazashi-server` command: `serve`, and the admin commands (`docs/server.md`).

use std::process::ExitCode;

fn main() -> ExitCode {
    kazashi_server::cli::main()
}
