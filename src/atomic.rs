//! Writing a file so that a crash never leaves half of it: the bytes go to a temporary file in
//! the same folder, are flushed to disk, and the file is renamed over the target.

use std::io::Write;
use std::path::Path;

/// The folder a file at `path` goes in (`.` for a bare file name).
pub fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, flushed, made
/// readable by others (0644: a temporary file starts as 0600), then renamed over `path`. A
/// crash leaves the old file or the new one, never half of one; on error `path` is unchanged
/// and the temporary file is removed.
///
/// # Errors
/// When the folder does not take a new file, the write fails, or the rename fails (for
/// instance when `path` is a folder); the message says which step.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = folder_of(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".sigmo-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| format!("cannot create a file in {}: {e}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|_| readable(tmp.as_file()))
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| format!("cannot write: {e}"))?;
    tmp.persist(path)
        .map_err(|e| format!("cannot rename into place: {}", e.error))?;
    Ok(())
}

/// Checks that `path` could be written by [`write()`]: it is not a folder, and its folder takes
/// a new file.
///
/// # Errors
/// Says which of the two fails.
pub fn probe(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err("is a folder, not a file".into());
    }
    tempfile::NamedTempFile::new_in(folder_of(path))
        .map(drop)
        .map_err(|e| format!("cannot write here: {e}"))
}

fn readable(f: &std::fs::File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o644))
    }
    #[cfg(not(unix))]
    {
        let _ = f;
        Ok(())
    }
}
