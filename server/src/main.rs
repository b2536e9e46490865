//! kazashi-server binary (in progress).
fn main() {}
