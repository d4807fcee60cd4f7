//! Helpers shared by the integration tests (each test file uses a part of them).
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A path under the temp dir that no other test (or test process) uses; removed on drop.
pub struct TempPath(pub PathBuf);

impl TempPath {
    /// A fresh path whose name contains `tag`.
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        TempPath(
            std::env::temp_dir().join(format!("dataflow-test-{}-{tag}-{n}", std::process::id())),
        )
    }

    /// A fresh file holding `content`.
    pub fn with_content(tag: &str, content: &[u8]) -> Self {
        let path = TempPath::new(tag);
        std::fs::File::create(&path.0)
            .and_then(|mut f| f.write_all(content))
            .unwrap();
        path
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The records of each `part-<k>` file a `write_lines` sink wrote at parallelism `p`, in file
/// order; asserts that the directory holds exactly those files.
pub fn read_parts<T>(dir: &Path, p: usize) -> Vec<Vec<T>>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Debug,
{
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<String> = (0..p).map(|k| format!("part-{k}")).collect();
    expected.sort();
    assert_eq!(names, expected, "files of {}", dir.display());
    (0..p)
        .map(|k| {
            std::fs::read_to_string(dir.join(format!("part-{k}")))
                .unwrap()
                .lines()
                .map(|l| l.parse().unwrap())
                .collect()
        })
        .collect()
}

/// `n` pseudo-random `(key, value)` pairs, keys below `keys`, values below 1000 (Knuth's MMIX
/// LCG, so a seed always gives the same pairs).
pub fn random_pairs(n: usize, keys: u64, seed: u64) -> Vec<(u64, u64)> {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    (0..n).map(|_| (next() % keys, next() % 1000)).collect()
}
