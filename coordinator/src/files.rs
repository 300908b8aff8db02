//! Files and folders only this user may read: a node's data folder is made mode 0700 and the
//! files in it (share store, ledger, job queue, signature records) 0600, so other local users
//! read neither shares nor outputs nor keys. On other systems than Unix these are plain
//! creations (the permissions are the folder's).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Creates `dir` (and its parents) if needed and makes it mode 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    set_mode(dir, 0o700)
}

/// Makes the existing file `path` mode 0600.
pub fn restrict(path: &Path) -> io::Result<()> {
    set_mode(path, 0o600)
}

/// Creates (or truncates) `path` for writing, mode 0600.
pub fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    private_mode(&mut options);
    let file = options.open(path)?;
    // An existing file keeps its mode on open: set it.
    restrict(path)?;
    Ok(file)
}

/// Sets mode 0600 on the files `options` creates.
pub fn private_mode(options: &mut OpenOptions) {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    #[cfg(not(unix))]
    let _ = options;
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn folders_are_0700_and_files_0600() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/data");
        private_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        let f = data.join("x");
        std::fs::write(&f, b"loose").unwrap();
        create_private(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
    }
}
