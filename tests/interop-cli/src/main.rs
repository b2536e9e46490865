//! `kazashi-interop-cli`: kazashi's envelopes on the command line, for the Node tests in
//! `tests/interop/` that check them against the npm package `jose`.
//!
//! Tokens and claims go in on stdin and out on stdout; keys are JWK files. On refusal it
//! prints `{"error": CODE}` on stdout and exits with 2.

use std::io::Read;
use std::process::ExitCode;

use kazashi_protocol::envelope::{self, CommandPolicy, ProviderKey, ResultPolicy};
use kazashi_protocol::jose::jwe::{self, KeyManagement};
use kazashi_protocol::jose::jwk::{Jwk, JwkSet, PrivateKey, PublicKey};
use kazashi_protocol::jose::{HeaderParams, jws};
use rand_core::OsRng;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(Failure::Refused(code)) => {
            println!("{}", serde_json::json!({ "error": code }));
            ExitCode::from(2)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("kazashi-interop-cli: {message}");
            ExitCode::from(64)
        }
    }
}

enum Failure {
    Refused(&'static str),
    Usage(String),
}

impl From<envelope::EnvelopeError> for Failure {
    fn from(e: envelope::EnvelopeError) -> Self {
        Self::Refused(e.code())
    }
}

impl From<kazashi_protocol::jose::JoseError> for Failure {
    fn from(e: kazashi_protocol::jose::JoseError) -> Self {
        Self::Refused(e.code())
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure::Usage(message.into())
}

fn option<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn required<'a>(args: &'a [String], name: &str) -> Result<&'a str, Failure> {
    option(args, name).ok_or_else(|| usage(format!("{name} is required")))
}

fn stdin() -> Result<String, Failure> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| usage(format!("stdin: {e}")))?;
    Ok(text.trim().to_owned())
}

fn read_jwk(path: &str) -> Result<Jwk, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| usage(format!("{path}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| usage(format!("{path}: {e}")))
}

fn private_key(args: &[String], name: &str) -> Result<PrivateKey, Failure> {
    Ok(PrivateKey::from_jwk(&read_jwk(required(args, name)?)?)?)
}

fn public_key(args: &[String], name: &str) -> Result<PublicKey, Failure> {
    Ok(PublicKey::from_jwk(&read_jwk(required(args, name)?)?)?)
}

fn now(args: &[String]) -> Result<u64, Failure> {
    match option(args, "--now") {
        Some(n) => n.parse().map_err(|_| usage("--now takes seconds")),
        None => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| usage("clock before 1970"))?
            .as_secs()),
    }
}

fn json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, Failure> {
    serde_json::from_str(text).map_err(|e| usage(format!("claims: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| usage(e.to_string()))
}

fn run(args: &[String]) -> Result<String, Failure> {
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("keygen") => {
            let key = PrivateKey::generate(&mut OsRng);
            to_json(&serde_json::json!({
                "private": key.to_jwk(),
                "public": key.public_key().to_jwk(),
            }))
        }
        Some("sign-command") => {
            let claims = json(&stdin()?)?;
            Ok(envelope::sign_command(
                &claims,
                &private_key(rest, "--provider")?,
            )?)
        }
        Some("seal-command") => {
            let claims = json(&stdin()?)?;
            let provider = private_key(rest, "--provider")?;
            let server = public_key(rest, "--server")?;
            Ok(envelope::seal_command(
                &claims, &provider, &server, &mut OsRng,
            )?)
        }
        Some("open-command") => {
            let server = private_key(rest, "--server")?;
            let provider = public_key(rest, "--provider")?;
            let provider_id = required(rest, "--provider-id")?.to_owned();
            let audience = required(rest, "--audience")?;
            let provider_kid = provider.thumbprint();
            let verified = envelope::open_command(
                &stdin()?,
                |kid| (kid == server.public_key().thumbprint()).then_some(&server),
                |kid| {
                    (kid == provider_kid).then_some(ProviderKey {
                        provider: provider_id,
                        key: provider,
                    })
                },
                &CommandPolicy::new(audience, now(rest)?),
            )?;
            to_json(&verified.claims)
        }
        Some("sign-result") => {
            let claims = json(&stdin()?)?;
            Ok(envelope::sign_result(
                &claims,
                &private_key(rest, "--server")?,
            )?)
        }
        Some("seal-result") => {
            let claims = json(&stdin()?)?;
            let server = private_key(rest, "--server")?;
            let provider = public_key(rest, "--provider")?;
            Ok(envelope::seal_result(
                &claims, &server, &provider, &mut OsRng,
            )?)
        }
        Some("verify-result") => {
            let jwks_text = std::fs::read_to_string(required(rest, "--jwks")?)
                .map_err(|e| usage(e.to_string()))?;
            let jwks: JwkSet = json(&jwks_text)?;
            let provider_key = match option(rest, "--provider-key") {
                Some(_) => Some(private_key(rest, "--provider-key")?),
                None => None,
            };
            let policy = ResultPolicy {
                server_keys: &jwks,
                issuer: required(rest, "--issuer")?,
                audience: required(rest, "--audience")?,
                command: option(rest, "--command"),
                provider_key: provider_key.as_ref(),
                now: now(rest)?,
                leeway: envelope::DEFAULT_LEEWAY,
                max_age: None,
            };
            let verified = envelope::verify_result(&stdin()?, &policy)?;
            to_json(&serde_json::json!({ "sealed": verified.sealed, "claims": verified.claims }))
        }
        Some("jws-verify") => {
            let verified = jws::verify(&stdin()?, &public_key(rest, "--key")?)?;
            Ok(String::from_utf8_lossy(verified.payload()).into_owned())
        }
        Some("jws-sign") => {
            let params = HeaderParams {
                typ: option(rest, "--typ").map(str::to_owned),
                kid: None,
                cty: None,
            };
            Ok(jws::sign(
                &params,
                stdin()?.as_bytes(),
                &private_key(rest, "--key")?,
            )?)
        }
        Some("jwe-encrypt") => {
            let alg = match required(rest, "--alg")? {
                "ECDH-ES" => KeyManagement::EcdhEs,
                "ECDH-ES+A256KW" => KeyManagement::EcdhEsA256Kw,
                other => return Err(usage(format!("unsupported --alg {other}"))),
            };
            let params = HeaderParams {
                typ: None,
                kid: None,
                cty: None,
            };
            Ok(jwe::encrypt(
                stdin()?.as_bytes(),
                &public_key(rest, "--key")?,
                alg,
                &params,
                &mut OsRng,
            )?)
        }
        Some("jwe-decrypt") => {
            let opened = jwe::decrypt(&stdin()?, &private_key(rest, "--key")?)?;
            Ok(String::from_utf8_lossy(&opened.plaintext).into_owned())
        }
        _ => Err(usage(
            "commands: keygen, sign-command, seal-command, open-command, sign-result, \
             seal-result, verify-result, jws-sign, jws-verify, jwe-encrypt, jwe-decrypt",
        )),
    }
}
