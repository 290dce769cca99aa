//! The workspace's own executables, for tests that start them as a user would.
//!
//! `cargo test --workspace` builds every binary before it runs any test, into the same
//! profile directory as the test executable (`target/<profile>/`). A program of this
//! crate (`src/bin/`, e.g. the consistency benchmark) lives in that directory itself.

use std::path::PathBuf;

/// `target/<profile>/<name>`, asserting that it was built.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    // target/<profile>/deps/<test> → target/<profile>; a binary of this crate is in
    // target/<profile> already.
    let parent = exe.parent().expect("an executable lives in a directory");
    let dir = match parent.file_name() {
        Some(name) if name == "deps" => parent.parent().expect("deps has a parent"),
        _ => parent,
    };
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
