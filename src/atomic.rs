//! Writing a file so that a crash never leaves half of it: the bytes go to a temporary file in
//! the same folder, are flushed to disk, and the file is renamed over the target; then the
//! folder is flushed too, so that the rename itself survives a crash.
//!
//! A target that is a symlink is written *through*: the file the link points to is replaced
//! (atomically, in its own folder), and the link stays. The new file keeps the permissions of
//! the file it replaces; a file that did not exist gets the default of the process's umask
//! (0644 under the usual 022), as any new file would. Only regular files are written (a
//! folder, device or FIFO at the target is an error), and only regular files are read
//! ([`open_regular`], [`read_regular`]): a device would be read forever, a FIFO would block.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The folder a file at `path` goes in (`.` for a bare file name).
pub fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// How many symlinks [`resolve`] follows before it gives up (Linux's limit, 40).
const MAX_LINKS: usize = 40;

/// The file a write to `path` lands on: symlinks followed (also a dangling one, whose target
/// does not exist yet), the folder made absolute and canonical. Two paths that resolve to the
/// same path name the same file (hard links aside: see [`same_file`]).
///
/// # Errors
/// When a symlink cannot be read, there are more than 40 of them in a row, or the folder
/// does not exist.
pub fn resolve(path: &Path) -> Result<PathBuf, String> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&p)
                    .map_err(|e| format!("cannot read the symlink {}: {e}", p.display()))?;
                p = if to.is_absolute() {
                    to
                } else {
                    folder_of(&p).join(to)
                };
            }
            _ => {
                let dir = folder_of(&p);
                let dir = std::fs::canonicalize(dir)
                    .map_err(|e| format!("no folder {}: {e}", dir.display()))?;
                return Ok(match p.file_name() {
                    Some(name) => dir.join(name),
                    // `..` or `/`: no file name to keep; canonical as it is.
                    None => std::fs::canonicalize(&p).unwrap_or(dir),
                });
            }
        }
    }
    Err(format!(
        "more than {MAX_LINKS} symlinks in a row from {}",
        path.display()
    ))
}

/// Whether `a` and `b` name the same file: the same resolved path (see [`resolve`]; `./x`,
/// `x` and a symlink to `x` are one file), or, where both exist, the same device and inode
/// (hard links).
pub fn same_file(a: &Path, b: &Path) -> bool {
    if let (Ok(ra), Ok(rb)) = (resolve(a), resolve(b)) {
        if ra == rb {
            return true;
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
    }
    false
}

/// Writes `bytes` to `path` atomically: a temporary file in the folder of the file `path`
/// resolves to (symlinks followed), flushed, given the permissions of the file it replaces
/// (or the umask's default when there is none), then renamed over it, and the folder flushed.
/// A crash leaves the old file or the new one, never half of one; on error the file is
/// unchanged and the temporary file is removed.
///
/// # Errors
/// When `path` names something other than a regular file (a folder, a device, a FIFO), the
/// folder does not take a new file, the write fails, or the rename fails; the message says
/// which step.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let target = resolve(path)?;
    let old = match std::fs::metadata(&target) {
        Ok(m) if m.is_file() => Some(m.permissions()),
        Ok(m) => return Err(not_regular(&m)),
        Err(_) => None,
    };
    let dir = folder_of(&target);
    let mut builder = tempfile::Builder::new();
    builder.prefix(".sigmo-").suffix(".tmp");
    #[cfg(unix)]
    {
        // Created as any new file would be (0666 less the umask), not 0600.
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| format!("cannot create a file in {}: {e}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|_| match &old {
            Some(perm) => tmp.as_file().set_permissions(perm.clone()),
            None => Ok(()),
        })
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| format!("cannot write: {e}"))?;
    tmp.persist(&target)
        .map_err(|e| format!("cannot rename into place: {}", e.error))?;
    sync_folder(dir).map_err(|e| {
        format!(
            "written, but cannot flush the folder {}: {e}",
            dir.display()
        )
    })
}

/// Flushes a folder's entries (the rename) to disk. Filesystems that cannot flush a folder
/// (they answer "invalid argument") are taken as done.
fn sync_folder(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        match std::fs::File::open(dir).and_then(|f| f.sync_all()) {
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
            r => r,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Checks that `path` could be written by [`write()`]: it is a regular file (symlinks
/// followed) or nothing yet, and its folder takes a new file.
///
/// # Errors
/// Says which of the two fails.
pub fn probe(path: &Path) -> Result<(), String> {
    let target = resolve(path).map_err(|e| format!("cannot write here: {e}"))?;
    if let Ok(m) = std::fs::metadata(&target) {
        if !m.is_file() {
            return Err(not_regular(&m));
        }
    }
    tempfile::NamedTempFile::new_in(folder_of(&target))
        .map(drop)
        .map_err(|e| format!("cannot write here: {e}"))
}

/// What a non-regular file is, as "is a folder, not a regular file".
pub fn not_regular(m: &std::fs::Metadata) -> String {
    let ft = m.file_type();
    let kind = if ft.is_dir() {
        "a folder"
    } else if ft.is_symlink() {
        "a symlink"
    } else {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if ft.is_char_device() {
                "a character device"
            } else if ft.is_block_device() {
                "a block device"
            } else if ft.is_fifo() {
                "a FIFO"
            } else if ft.is_socket() {
                "a socket"
            } else {
                "not a file"
            }
        }
        #[cfg(not(unix))]
        {
            "not a file"
        }
    };
    format!("is {kind}, not a regular file")
}

/// Opens `path` for reading when it is a regular file (symlinks followed); a folder, device,
/// FIFO or socket is refused before it is opened, so that nothing blocks on a FIFO or reads a
/// device forever. Returns the file and its length.
///
/// # Errors
/// When `path` does not exist, cannot be opened, or is not a regular file; the message says
/// which, without the file name.
pub fn open_regular(path: &Path) -> Result<(std::fs::File, u64), String> {
    let m = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !m.is_file() {
        return Err(not_regular(&m));
    }
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    // Checked again on what was opened: it may have been replaced in between.
    let m = f.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !m.is_file() {
        return Err(not_regular(&m));
    }
    Ok((f, m.len()))
}

/// Reads all of a regular file (see [`open_regular`]) into one buffer of the length the file
/// has when opened (a file that grows or shrinks meanwhile is an error).
///
/// # Errors
/// As [`open_regular`], when reading fails, the file is longer than `max` bytes, or it grows
/// while read; the message says which, without the file name.
pub fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let (f, len) = open_regular(path)?;
    if len > max {
        return Err(format!("{len} bytes: larger than the {max}-byte cap"));
    }
    let mut f = f;
    let mut buf = Vec::new();
    buf.try_reserve_exact(len as usize)
        .map_err(|_| format!("{len} bytes: more than memory holds"))?;
    buf.resize(len as usize, 0);
    f.read_exact(&mut buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "the file shrank while it was read".to_string(),
        _ => format!("cannot read: {e}"),
    })?;
    let mut one = [0u8; 1];
    loop {
        match f.read(&mut one) {
            Ok(0) => return Ok(buf),
            Ok(_) => return Err("the file grew while it was read".into()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read: {e}")),
        }
    }
}
