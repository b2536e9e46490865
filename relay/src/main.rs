//! `kazashi-relay`: the desktop common app. Runs a transaction from its launch URL against a
//! PC/SC reader or a virtual chip; prints the result token on stdout, progress on stderr.

use std::process::ExitCode;

use kazashi_relay::{HttpClient, Relay};
use kazashi_se::{CardTransport, PcscReader, Store, VirtualCard};

const USAGE: &str = "\
usage: kazashi-relay run LAUNCH_URL (--reader NAME | --virtual STATE_FILE)

  --reader NAME        a PC/SC reader (e.g. \"Virtual PCD 00 00\")
  --virtual FILE       a kazashi-se state file, in-process

exit codes: 0 result printed, 1 the transaction could not run, 2 usage
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some("run"), Some(url)) = (args.first().map(String::as_str), args.get(1)) else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let option = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let card: Box<dyn CardTransport> = match (option("--reader"), option("--virtual")) {
        (Some(reader), None) => match PcscReader::connect(reader) {
            Ok(r) => Box::new(r),
            Err(e) => return fail(&format!("reader {reader}: {e}")),
        },
        (None, Some(state)) => match VirtualCard::open(Store::new(state)) {
            Ok(card) => Box::new(card),
            Err(e) => return fail(&e.to_string()),
        },
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut relay = Relay::new(card, HttpClient::new());
    match relay.run_with_progress(url, &mut |step: &str| eprintln!("kazashi-relay: {step}")) {
        Ok(token) => {
            #[allow(
                clippy::print_stdout,
                reason = "the result token is this command's output"
            )]
            {
                println!("{token}");
            }
            eprintln!(
                "kazashi-relay: {} exchange(s) with the server",
                relay.http().exchanges()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("kazashi-relay: {message}");
    ExitCode::from(1)
}
