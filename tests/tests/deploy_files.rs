//! The deployment files stay in step with the code: every setting a service accepts is
//! listed in `deploy/switchyard.env.example`, the compose file builds stages that exist,
//! and the systemd units start binaries the workspace builds.

use std::collections::BTreeSet;
use std::process::Command;

use switchyard_tests::bins::{repo_root, workspace_bin};

const SERVICES: [&str; 3] = ["switchyard-proxy", "panel-api", "cert-worker"];

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The environment variables a binary's `--help` names (`[env: NAME=...]`).
fn env_settings(binary: &str) -> BTreeSet<String> {
    let out = Command::new(workspace_bin(binary))
        .arg("--help")
        .output()
        .unwrap_or_else(|e| panic!("{binary} --help: {e}"));
    assert!(out.status.success(), "{binary} --help failed");
    let help = String::from_utf8(out.stdout).expect("help is UTF-8");
    help.split("[env: ")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect::<String>()
        })
        .collect()
}

#[test]
fn env_example_lists_every_setting_of_every_service() {
    let example = read("deploy/switchyard.env.example");
    let listed: BTreeSet<&str> = example
        .lines()
        .filter_map(|l| l.trim_start_matches('#').trim().split_once('='))
        .map(|(name, _)| name)
        .collect();
    let mut missing = Vec::new();
    for binary in SERVICES {
        let settings = env_settings(binary);
        assert!(
            settings.len() >= 5,
            "{binary} --help names only {settings:?}: the parsing above broke"
        );
        for name in settings {
            if !listed.contains(name.as_str()) {
                missing.push(format!("{binary}: {name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "deploy/switchyard.env.example lacks {missing:?}; run deploy/gen-env-example"
    );
}

#[test]
fn compose_builds_stages_the_dockerfile_defines() {
    let dockerfile = read("deploy/Dockerfile");
    let stages: BTreeSet<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .filter_map(|l| l.split(" AS ").nth(1))
        .map(str::trim)
        .collect();
    for service in ["proxy", "panel-api", "cert-worker"] {
        assert!(
            stages.contains(service),
            "deploy/Dockerfile has no stage {service}"
        );
    }
    let compose = read("deploy/docker-compose.yml");
    let targets: Vec<&str> = compose
        .split("target: ")
        .skip(1)
        .map(|rest| rest.split([' ', '}', '\n']).next().unwrap_or_default())
        .collect();
    assert_eq!(targets.len(), 3, "compose builds {targets:?}");
    for target in targets {
        assert!(
            stages.contains(target),
            "compose builds unknown stage {target}"
        );
    }
    // Every binary the Dockerfile copies is one the workspace builds.
    for binary in SERVICES {
        workspace_bin(binary);
        assert!(dockerfile.contains(&format!("target/release/{binary}")));
    }
}

#[test]
fn systemd_units_start_workspace_binaries() {
    for (unit, binary) in [
        ("switchyard-proxy.service", "switchyard-proxy"),
        ("switchyard-panel-api.service", "panel-api"),
        ("switchyard-cert-worker.service", "cert-worker"),
    ] {
        let text = read(&format!("deploy/systemd/{unit}"));
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap_or_else(|| panic!("{unit} has no ExecStart"));
        assert_eq!(exec, format!("/usr/local/bin/{binary}"), "{unit}");
        workspace_bin(binary);
        assert!(text.contains("EnvironmentFile=/etc/switchyard/switchyard.env"));
    }
}

/// The lines of the Dockerfile stage `name` (from its `FROM … AS name` to the next `FROM`).
fn stage<'a>(dockerfile: &'a str, name: &str) -> Vec<&'a str> {
    let mut lines = dockerfile.lines();
    let mut out = Vec::new();
    for line in lines.by_ref() {
        if line.starts_with("FROM ") && line.split(" AS ").nth(1).map(str::trim) == Some(name) {
            break;
        }
    }
    for line in lines {
        if line.starts_with("FROM ") {
            break;
        }
        out.push(line);
    }
    out
}

#[test]
fn the_panel_image_carries_the_built_web_panel() {
    let dockerfile = read("deploy/Dockerfile");
    let web = stage(&dockerfile, "web").join("\n");
    assert!(web.contains("npm ci"), "the web stage does not run npm ci");
    assert!(
        web.contains("npm run build"),
        "the web stage does not build"
    );
    // The panel-api stage copies web/dist out of it and points SWITCHYARD_WEB_DIR there.
    let panel = stage(&dockerfile, "panel-api");
    let copy = panel
        .iter()
        .find(|l| l.starts_with("COPY --from=web ") && l.contains("/dist "))
        .unwrap_or_else(|| panic!("the panel-api stage copies no web/dist: {panel:#?}"));
    let target = copy.split_whitespace().last().expect("a destination");
    assert!(
        panel
            .iter()
            .any(|l| l.contains(&format!("SWITCHYARD_WEB_DIR={target}"))),
        "the panel-api stage does not set SWITCHYARD_WEB_DIR={target}"
    );
    // Node's build context must not drag a local node_modules or dist along.
    let ignore = read(".dockerignore");
    for path in ["web/node_modules", "web/dist"] {
        assert!(ignore.contains(path), ".dockerignore lacks {path}");
    }
}
