//! The admin CLI, run as a binary against SQLite and PostgreSQL.

mod common;

use std::path::Path;
use std::process::Command;

use kazashi_protocol::jose::{JwkSet, PrivateKey};
use kazashi_protocol::scp03::{KeyLength, diversify_static_keys};
use kazashi_se::{Store, VirtualCard};
use kazashi_server::keys::KeyRing;
use rand_core::OsRng;

fn run(dir: &Path, db: Option<&str>, args: &[&str]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kazashi-server"));
    command.args(args).arg("--data-dir").arg(dir);
    if let Some(url) = db {
        command.args(["--database-url", url]);
    }
    let out = command.env("RUST_LOG", "warn").output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn providers_and_chips(db: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = PrivateKey::generate(&mut OsRng);
    let jwks = d.join("shop.jwks");
    std::fs::write(
        &jwks,
        JwkSet {
            keys: vec![key.public_key().to_jwk()],
        }
        .to_json(),
    )
    .unwrap();
    let jwks = jwks.to_str().unwrap();

    let (ok, out) = run(
        d,
        db,
        &[
            "provider",
            "add",
            "--id",
            "shop",
            "--jwks",
            jwks,
            "--allow-aid",
            "A0000000041010",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = run(d, db, &["provider", "add", "--id", "shop", "--jwks", jwks]);
    assert!(!ok && out.contains("already exists"), "{out}");
    let (ok, out) = run(d, db, &["provider", "list"]);
    assert!(ok, "{out}");
    assert!(out.contains("shop\tactive"), "{out}");
    assert!(out.contains(&key.public_key().thumbprint()));
    assert!(out.contains("A0000000041010"));
    let (ok, out) = run(d, db, &["provider", "remove", "--id", "shop"]);
    assert!(ok, "{out}");
    let (_, out) = run(d, db, &["provider", "list"]);
    assert!(out.contains("shop\tremoved"), "{out}");
    let (ok, _) = run(d, db, &["provider", "remove", "--id", "shop"]);
    assert!(!ok);

    let (ok, out) = run(
        d,
        db,
        &[
            "chip",
            "add",
            "--kdd",
            "00112233445566778899",
            "--kvn",
            "48",
            "--cin",
            "CAFE0001",
            "--key-length",
            "32",
            "--s16",
            "--random-challenge",
            "--seq",
            "7",
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "CAFE0001");
    let (ok, out) = run(d, db, &["chip", "add", "--kdd", "0011", "--kvn", "48"]);
    assert!(!ok, "{out}");
    let (ok, out) = run(d, db, &["chip", "suspend", "--id", "CAFE0001"]);
    assert!(ok, "{out}");
    let (_, out) = run(d, db, &["chip", "list"]);
    assert!(
        out.contains(
            "CAFE0001\tsuspended\tkdd=00112233445566778899\tkvn=30\tkeys=32\tseq=7\trandom"
        ),
        "{out}"
    );
    assert!(run(d, db, &["chip", "resume", "--id", "CAFE0001"]).0);
    assert!(run(d, db, &["chip", "retire", "--id", "CAFE0001"]).0);
    assert!(!run(d, db, &["chip", "resume", "--id", "CAFE0001"]).0);
    assert!(!run(d, db, &["chip", "suspend", "--id", "NOPE"]).0);

    // personalize: a state file kazashi-se opens, with the diversified keys.
    let state = d.join("card.json");
    let (ok, out) = run(
        d,
        db,
        &[
            "chip",
            "personalize",
            "--state",
            state.to_str().unwrap(),
            "--key-length",
            "24",
        ],
    );
    assert!(ok, "{out}");
    let id = out.trim().to_owned();
    let card = VirtualCard::open(Store::new(&state)).unwrap();
    let profile = &card.state().profile;
    assert_eq!(profile.chip_id(), id);
    let ring = KeyRing::load_or_create(d).unwrap();
    let kdd: [u8; 10] = profile.kdd.0.clone().try_into().unwrap();
    let keys = diversify_static_keys(ring.chip_master().expose_secret(), &kdd, KeyLength::Aes192);
    assert_eq!(profile.keys.enc.expose(), keys.enc().expose_secret());
    assert_eq!(profile.keys.mac.expose(), keys.mac().expose_secret());
    assert_eq!(profile.keys.dek.expose(), keys.dek().expose_secret());
    let (_, out) = run(d, db, &["chip", "list"]);
    assert!(out.contains(&format!("{id}\tactive")), "{out}");

    // Key files: owner-only.
    use std::os::unix::fs::PermissionsExt;
    for f in [
        "keys/chip-master.key",
        "keys/signing/0001.jwk",
        "keys/encryption/0001.jwk",
    ] {
        let mode = std::fs::metadata(d.join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let (ok, out) = Command::new(env!("CARGO_BIN_EXE_kazashi-server"))
        .args(["keys", "rotate", "--data-dir"])
        .arg(d)
        .output()
        .map(|o| {
            (
                o.status.success(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
            )
        })
        .unwrap();
    assert!(ok && out.contains("signing key"), "{out}");
    assert!(d.join("keys/signing/0002.jwk").exists());
}

#[test]
fn cli_sqlite() {
    providers_and_chips(None);
}

#[test]
fn cli_postgres() {
    if common::skip_postgres() {
        return;
    }
    let url = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(common::fresh_database());
    providers_and_chips(Some(&url));
}
