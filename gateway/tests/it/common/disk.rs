//! A small disk of its own for a test (a tmpfs, so it can be filled without filling the
//! machine's): where a full disk is the case under test.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs of `size` (e.g. `256k`) mounted on a new directory; unmounted on drop. `None` where
/// mounting is not allowed (it needs root: CI and the dev machines run as root).
pub struct SmallDisk(pub PathBuf);

impl SmallDisk {
    pub fn mount(size: &str) -> Option<SmallDisk> {
        let dir = super::temp_path("tollgate-small-disk", "");
        std::fs::create_dir_all(&dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(SmallDisk(dir))
    }

    /// Fill it but `leave_kib` KiB with one file, whose path is returned (remove it for room).
    pub fn fill(&self, leave_kib: u64) -> PathBuf {
        let out = Command::new("df").arg("-k").arg(&self.0).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let free_kib: u64 = text
            .lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|n| n.parse().ok())
            .unwrap();
        let filler = self.0.join("filler");
        std::fs::write(&filler, vec![1u8; (free_kib.saturating_sub(leave_kib) * 1024) as usize]).unwrap();
        filler
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}
