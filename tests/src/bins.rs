//! The workspace's own executables, for tests that start them as a user would.
//!
//! `cargo test --workspace` builds every binary before it runs any test, into the same
//! profile directory as the test executable (`target/<profile>/`).

use std::path::PathBuf;

/// `target/<profile>/<name>`, asserting that it was built.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    // target/<profile>/deps/<test> → target/<profile>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executables live in target/<profile>/deps");
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} is missing: build the workspace's binaries first (`cargo build --workspace --bins`; `cargo test --workspace` does)",
        bin.display()
    );
    bin
}

/// The repository root (this crate lives in `<root>/tests`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the repository root")
        .to_path_buf()
}
