//! Placeholder until the fuzz targets land.

/// The fuzz targets.
pub(crate) fn targets() -> Vec<String> {
    Vec::new()
}

/// Runs fuzz targets.
pub(crate) fn run(_targets: &[&str], _seconds: u64) -> Result<(), String> {
    Ok(())
}
