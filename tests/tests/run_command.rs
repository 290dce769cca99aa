//! The README's first command, `scripts/up`, run the way a new user runs it: no
//! `DATABASE_URL`, no `REDIS_URL`, no ACME directory, no admin password. It must start a
//! private PostgreSQL and Redis, the local Pebble, all three services and the demo, print
//! the exact `curl` line the README shows — and that line (and the HTTPS one, against
//! the certificate the cert worker got from Pebble) must answer. Running it again is
//! harmless; `scripts/down` stops everything.
//!
//! Two differences from a user's run, both for the test's sake: the stack's state lives
//! in a directory of the test's own (`SWITCHYARD_LOCAL_DIR`), and the binaries are the
//! ones `cargo test` built (`SWITCHYARD_BIN_DIR`): a test cannot run cargo while
//! `cargo test` holds the build directory. The ports are the stack's fixed ones, so the
//! test fails, naming them, when something else holds them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use switchyard_tests::bins::{repo_root, workspace_bin};
use switchyard_tests::client::{http_get, https_get};
use switchyard_tests::eventually::eventually;

/// Every port the local stack listens on (scripts/lib.sh, docs/local-stack.md).
const STACK_PORTS: [u16; 12] = [
    8080, 8443, 9080, 8081, 9082, 54329, 63799, 14000, 14001, 18053, 18054, 8090,
];

/// What the README tells a new user to run after `scripts/up`.
const README_CURL: &str = "curl -H 'Host: demo.localhost' http://127.0.0.1:8080/";

/// The stack's directory; `scripts/down` runs and it is removed on drop, whatever
/// happened (a failed assertion must not leave a PostgreSQL running).
struct Stack {
    dir: PathBuf,
}

impl Stack {
    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("switchyard-run-command-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory for the stack");
        Stack { dir }
    }

    fn run(&self, script: &str) -> Output {
        run(&self.dir, script)
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join("logs").join(format!("{name}.log")))
            .map(|text| {
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(15)..].join("\n")
            })
            .unwrap_or_default()
    }
}

/// `bash scripts/<script>` as a new user: none of the variables that would point the
/// stack elsewhere, its state in `dir`.
fn run(dir: &Path, script: &str) -> Output {
    let bin_dir = workspace_bin("switchyard-proxy")
        .parent()
        .expect("binaries live in a directory")
        .to_path_buf();
    Command::new("bash")
        .arg(repo_root().join("scripts").join(script))
        .current_dir(repo_root())
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("SWITCHYARD_ACME_DIRECTORY")
        .env_remove("SWITCHYARD_ADMIN_USER")
        .env_remove("SWITCHYARD_ADMIN_PASSWORD")
        .env_remove("SWITCHYARD_SECRET_KEY")
        .env_remove("SWITCHYARD_KEY_PREFIX")
        .env("SWITCHYARD_LOCAL_DIR", dir)
        .env("SWITCHYARD_BIN_DIR", bin_dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running scripts/{script}: {e}"))
}

impl Drop for Stack {
    fn drop(&mut self) {
        let out = self.run("down");
        if !out.status.success() {
            eprintln!("scripts/down failed:\n{}", text(&out));
        }
        // The private cluster may live outside (a symlink) when postgres cannot reach it.
        let pg = self.dir.join("postgres");
        if let Ok(target) = std::fs::read_link(&pg) {
            let _ = std::fs::remove_dir_all(target);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    )
    .is_ok()
}

/// `First admin: admin  password: <password>` from the summary.
fn printed_password(stdout: &str) -> Option<String> {
    let line = stdout.lines().find(|l| l.contains("First admin:"))?;
    Some(line.split("password:").nth(1)?.trim().to_owned())
}

fn readme_mentions(line: &str) -> bool {
    std::fs::read_to_string(repo_root().join("README.md"))
        .expect("README.md")
        .contains(line)
}

#[tokio::test]
async fn scripts_up_runs_the_whole_stack_as_the_readme_says() -> anyhow::Result<()> {
    let taken: Vec<u16> = STACK_PORTS.into_iter().filter(|p| listening(*p)).collect();
    assert!(
        taken.is_empty(),
        "the local stack's ports {taken:?} are in use; stop what holds them (scripts/down?)"
    );
    assert!(
        readme_mentions(README_CURL),
        "the README no longer shows {README_CURL}"
    );
    // Everything scripts/up starts must have been built (scripts/test builds every bin).
    for bin in [
        "switchyard-migrate",
        "switchyard-proxy",
        "panel-api",
        "cert-worker",
        "switchyard-demo-backend",
    ] {
        workspace_bin(bin);
    }
    let stack = Stack::new();

    let up = tokio::task::spawn_blocking({
        let dir = stack.dir.clone();
        move || run(&dir, "up")
    })
    .await?;
    assert!(up.status.success(), "scripts/up failed:\n{}", text(&up));
    let stdout = String::from_utf8_lossy(&up.stdout).into_owned();

    // The summary says what the README says, and that line answers through the proxy.
    assert!(
        stdout.contains(README_CURL),
        "the summary does not show {README_CURL}:\n{stdout}"
    );
    let demo = http_get(
        SocketAddr::from(([127, 0, 0, 1], 8080)),
        "demo.localhost",
        "/",
    )
    .await?;
    assert_eq!(
        demo.status,
        200,
        "{}\nproxy log:\n{}",
        demo.body,
        stack.log("proxy")
    );
    assert!(
        demo.body.contains("Hello from the Switchyard demo backend"),
        "{}",
        demo.body
    );

    // HTTPS with the certificate the cert worker got from the local Pebble, trusted
    // through Pebble's root (the command the summary and the README print).
    let https_line = "curl --cacert .local/pebble/pebble-root.pem --resolve demo.localhost:8443:127.0.0.1 https://demo.localhost:8443/";
    assert!(
        stdout.contains(https_line),
        "no verified HTTPS demo:\n{stdout}\ncert-worker log:\n{}",
        stack.log("cert-worker")
    );
    assert!(
        readme_mentions(https_line),
        "the README no longer shows {https_line}"
    );
    let root = std::fs::read_to_string(stack.dir.join("pebble").join("pebble-root.pem"))?;
    let tls = https_get(
        SocketAddr::from(([127, 0, 0, 1], 8443)),
        "demo.localhost",
        "/",
        &root,
    )
    .await?;
    assert_eq!(tls.status, 200, "{}", tls.body);
    assert!(tls.body.contains("Hello from the Switchyard demo backend"));

    // The first admin's password, printed once, logs in; health is ok.
    let password =
        printed_password(&stdout).unwrap_or_else(|| panic!("no admin password printed:\n{stdout}"));
    let http = reqwest::Client::builder().no_proxy().build()?;
    let login = http
        .post("http://127.0.0.1:8081/api/v1/auth/login")
        .header("content-type", "application/json")
        .body(serde_json::json!({"username": "admin", "password": password}).to_string())
        .send()
        .await?;
    assert_eq!(login.status(), 200, "{}", login.text().await?);
    eventually(Duration::from_secs(30), "panel health ok", || {
        let http = http.clone();
        async move {
            let health: serde_json::Value = http
                .get("http://127.0.0.1:8081/api/v1/health")
                .send()
                .await
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("{e}: {t}")))?;
            match health["status"].as_str() {
                Some("ok") => Ok(()),
                _ => Err(health.to_string()),
            }
        }
    })
    .await?;
    // Logs of every process in one place.
    for name in [
        "proxy",
        "panel-api",
        "cert-worker",
        "pebble",
        "pebble-challtestsrv",
    ] {
        assert!(
            stack.dir.join("logs").join(format!("{name}.log")).is_file(),
            "no log for {name}"
        );
    }

    // Again: harmless, everything already running, the demo still answers.
    let again = stack.run("up");
    assert!(
        again.status.success(),
        "second scripts/up failed:\n{}",
        text(&again)
    );
    let again_out = String::from_utf8_lossy(&again.stdout);
    assert!(again_out.contains("already running"), "{again_out}");
    assert!(
        printed_password(&again_out).is_none(),
        "the password was printed twice"
    );
    let demo = http_get(
        SocketAddr::from(([127, 0, 0, 1], 8080)),
        "demo.localhost",
        "/",
    )
    .await?;
    assert_eq!(demo.status, 200);

    // scripts/down stops every process: nothing listens any more.
    let down = stack.run("down");
    assert!(
        down.status.success(),
        "scripts/down failed:\n{}",
        text(&down)
    );
    let still: Vec<u16> = STACK_PORTS.into_iter().filter(|p| listening(*p)).collect();
    assert!(
        still.is_empty(),
        "still listening after scripts/down: {still:?}"
    );
    drop(stack);
    Ok(())
}
