//! Test-only crate: `tests/` holds a session in which the `isomdl` crate plays the holder
//! against `kazashi_protocol::offline`'s reader. Kept apart so that `kazashi-protocol` does not
//! depend on isomdl.
