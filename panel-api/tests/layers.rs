//! The crate's layers point one way (see `src/app.rs`'s header): every module may use
//! only the modules listed before it here, so no import cycle can form between them,
//! handlers cannot be reached from a service, and `access` (who may do what) depends
//! on no handler. A module's own submodules are one layer (`service/*` may use each
//! other). Read from the source text: a `crate::<module>` reference outside comments.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bottom first. A module may refer to the modules before it, never after.
const LAYERS: &[&str] = &[
    // Foundations: no other module of the crate above them.
    "entity",
    "mirror",
    "error",
    "input",
    "web",
    "config",
    "metrics",
    "liveness",
    // Who may do what.
    "access",
    // The operations: authorization, data, audit, outbox, cache, degraded fallback.
    "service",
    "reconcile",
    // What handlers share, how a request proves who it is, the OpenAPI schemas.
    "state",
    "auth",
    "schema",
    // HTTP only.
    "routes",
    "openapi",
    "app",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "bin") {
                sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`service/zones.rs` → `service`);
/// `None` for the crate root.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (name != "lib" && name != "main").then(|| name.to_owned())
}

/// Every `crate::<name>` in `text` outside comments, with its line number.
fn references(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push((n + 1, name));
            }
        }
    }
    out
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rank: BTreeMap<&str, usize> = LAYERS.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut unlisted = Vec::new();
    let mut upward = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let Some(&own) = rank.get(module.as_str()) else {
            unlisted.push(module);
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (line, target) in references(&text) {
            // Items of the crate root (`crate::Config`, `crate::AppState`) are
            // re-exports of some module; they are checked where they are defined.
            let Some(&theirs) = rank.get(target.as_str()) else {
                continue;
            };
            if target != module && theirs >= own {
                upward.push(format!(
                    "{}:{line}: `{module}` uses `crate::{target}`, a layer above it",
                    file.strip_prefix(&src).unwrap().display()
                ));
            }
        }
    }
    unlisted.dedup();
    assert!(
        unlisted.is_empty(),
        "modules missing from LAYERS (place each in its layer): {unlisted:?}"
    );
    assert!(
        upward.is_empty(),
        "imports that point up:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_check_sees_references_and_ignores_comments() {
    let text = "use crate::service::zones;\n// crate::app in a comment\nlet x = crate::access::authorize(p, n); // crate::routes\n";
    assert_eq!(
        references(text),
        vec![(1, "service".to_owned()), (3, "access".to_owned())]
    );
}
