//! The `kazashi-se` command: new, show (never the keys), refusals.

use std::process::Command;

fn kazashi_se(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kazashi-se"))
        .args(args)
        .output()
        .expect("kazashi-se runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn new_then_show_never_prints_the_keys() {
    let dir = std::env::temp_dir().join(format!("kazashi-se-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("chip.json");
    let state = state.to_str().unwrap();
    let key = "404142434445464748494A4B4C4D4E4F";
    let (code, chip, _) = kazashi_se(&[
        "new",
        "--state",
        state,
        "--kvn",
        "0x30",
        "--enc",
        key,
        "--mac",
        key,
        "--dek",
        key,
        "--kdd",
        "00112233445566778899",
        "--s16",
        "--random-challenge",
        "--seq",
        "9",
    ]);
    assert_eq!(code, 0);
    let chip = chip.trim();
    assert_eq!(chip.len(), 16, "the chip id is the CIN in hex");

    let (code, shown, _) = kazashi_se(&["show", "--state", state]);
    assert_eq!(code, 0);
    assert!(!shown.contains("4041424344"), "show printed a key: {shown}");
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["chip"], chip);
    assert_eq!(shown["profile"]["kvn"], 48);
    assert_eq!(shown["profile"]["kdd"], "00112233445566778899");
    assert_eq!(shown["profile"]["s16"], true);
    assert_eq!(shown["profile"]["challenge"], "random");
    assert_eq!(shown["profile"]["next_sequence_counter"], 9);

    // An existing chip is never overwritten.
    let (code, _, err) = kazashi_se(&["new", "--state", state]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    // A damaged state file is refused with a clear message.
    std::fs::write(dir.join("bad.json"), b"{\"version\":1,").unwrap();
    let (code, _, err) = kazashi_se(&["show", "--state", dir.join("bad.json").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("not a valid kazashi-se state file"), "{err}");
    // Usage errors exit 2.
    assert_eq!(kazashi_se(&["new", "--state", state, "--enc", key]).0, 2);
    assert_eq!(kazashi_se(&["new", "--state", "/tmp/x", "--seq", "0"]).0, 2);
    assert_eq!(kazashi_se(&["frobnicate"]).0, 2);
    let _ = std::fs::remove_dir_all(&dir);
}
