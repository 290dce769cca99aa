//! The README's first command, `scripts/up`, run the way a new user runs it: no
//! `DATABASE_URL`, no `REDIS_URL`, no ACME directory, no admin password. It must start a
//! private PostgreSQL and Redis, the local Pebble, all three services and the demo, print
//! the exact `curl` line the README shows — and that line (and the HTTPS one, against
//! the certificate the cert worker got from Pebble) must answer. Running it again is
//! harmless; `scripts/down` stops everything. The web panel (built from `web/` by `up`)
//! answers at `http://127.0.0.1:8081/` and the printed admin password logs in.
//!
//! Then the second day: `scripts/up` after `scripts/down` brings everything back with the
//! data kept — the same admin logs in with the password printed the first time (which is
//! not printed again), the demo zone still routes, health is ok, and the HTTPS line
//! verifies against the root of the Pebble started that day (the certificate from the
//! day before is re-issued by `up` itself: Pebble makes a new root at every start).
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
        .env_remove("SWITCHYARD_WEB_DIR")
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

/// The HTTPS line of the README and the summary.
const HTTPS_LINE: &str = "curl --cacert .local/pebble/pebble-root.pem --resolve demo.localhost:8443:127.0.0.1 https://demo.localhost:8443/";
const PANEL: &str = "http://127.0.0.1:8081";

fn readme_mentions(line: &str) -> bool {
    std::fs::read_to_string(repo_root().join("README.md"))
        .expect("README.md")
        .contains(line)
}

/// The README's curl line: the demo backend through the proxy.
async fn assert_demo_routes(stack: &Stack) -> anyhow::Result<()> {
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
    Ok(())
}

/// The summary shows the HTTPS line, and it verifies against the Pebble root `up` saved
/// (returned).
async fn assert_https_verifies(stack: &Stack, stdout: &str) -> anyhow::Result<String> {
    assert!(
        stdout.contains(HTTPS_LINE),
        "no verified HTTPS demo:\n{stdout}\ncert-worker log:\n{}",
        stack.log("cert-worker")
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
    Ok(root)
}

/// The admin logs in with `password` (a session, as the web panel does).
async fn assert_admin_logs_in(http: &reqwest::Client, password: &str) -> anyhow::Result<()> {
    let login = http
        .post(format!("{PANEL}/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(serde_json::json!({"username": "admin", "password": password}).to_string())
        .send()
        .await?;
    assert_eq!(login.status(), 200, "{}", login.text().await?);
    Ok(())
}

async fn assert_health_ok(http: &reqwest::Client) -> anyhow::Result<()> {
    eventually(Duration::from_secs(30), "panel health ok", || {
        let http = http.clone();
        async move {
            let health: serde_json::Value = http
                .get(format!("{PANEL}/api/v1/health"))
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
    .await
}

/// The web panel at `/` (built from web/ by `up`): its page, revalidated, under the CSP,
/// with the bundles it names; client routes get the same page.
async fn assert_web_panel(http: &reqwest::Client, stdout: &str) -> anyhow::Result<()> {
    if !repo_root().join("web").join("package.json").is_file() {
        assert!(stdout.contains("web panel   skipped"), "{stdout}");
        return Ok(());
    }
    assert!(
        stdout.contains(&format!("web panel   {PANEL}/")),
        "the summary does not show the web panel:\n{stdout}"
    );
    for path in ["/", "/zones"] {
        let page = http.get(format!("{PANEL}{path}")).send().await?;
        assert_eq!(page.status(), 200, "{path}");
        let header = |name: &str| {
            page.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with("text/html"), "{path}");
        assert_eq!(header("cache-control"), "no-cache", "{path}");
        assert!(
            header("content-security-policy").contains("script-src 'self'"),
            "{path}"
        );
        let html = page.text().await?;
        let script = html
            .split("src=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .find(|src| src.starts_with("/assets/") && src.ends_with(".js"))
            .unwrap_or_else(|| panic!("{path}: no /assets/*.js in the page:\n{html}"))
            .to_owned();
        let bundle = http.get(format!("{PANEL}{script}")).send().await?;
        assert_eq!(bundle.status(), 200, "{script}");
        assert_eq!(
            bundle.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
    }
    Ok(())
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
    assert_demo_routes(&stack).await?;

    // HTTPS with the certificate the cert worker got from the local Pebble, trusted
    // through Pebble's root (the command the summary and the README print).
    assert!(
        readme_mentions(HTTPS_LINE),
        "the README no longer shows {HTTPS_LINE}"
    );
    let first_root = assert_https_verifies(&stack, &stdout).await?;

    // The first admin's password, printed once with the panel's URL, logs in; health is
    // ok; the web panel is served.
    let password =
        printed_password(&stdout).unwrap_or_else(|| panic!("no admin password printed:\n{stdout}"));
    assert!(
        stdout.contains(&format!("Log in at {PANEL}/ as admin")),
        "{stdout}"
    );
    assert!(
        readme_mentions(&format!("{PANEL}/")),
        "the README does not name the panel"
    );
    let http = reqwest::Client::builder().no_proxy().build()?;
    assert_admin_logs_in(&http, &password).await?;
    assert_health_ok(&http).await?;
    assert_web_panel(&http, &stdout).await?;
    // Kept for the next day, readable by the owner only.
    let kept = stack.dir.join("admin-password");
    assert_eq!(std::fs::read_to_string(&kept)?.trim(), password);
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&kept)?.permissions().mode() & 0o777,
        0o600
    );
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
        printed_password(&again_out).is_none() && !again_out.contains(&password),
        "the password was printed twice"
    );
    assert_demo_routes(&stack).await?;

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

    // The second day: up after down brings back the same data and admin.
    let day2 = tokio::task::spawn_blocking({
        let dir = stack.dir.clone();
        move || run(&dir, "up")
    })
    .await?;
    assert!(
        day2.status.success(),
        "scripts/up after scripts/down failed:\n{}\npanel-api log:\n{}",
        text(&day2),
        stack.log("panel-api")
    );
    let day2_out = String::from_utf8_lossy(&day2.stdout).into_owned();
    assert!(
        printed_password(&day2_out).is_none() && !day2_out.contains(&password),
        "the password was printed again:\n{day2_out}"
    );
    assert!(
        day2_out.contains("the admin exists; its password is in"),
        "the summary does not say where the admin's password is:\n{day2_out}"
    );
    assert_admin_logs_in(&http, &password).await?;
    assert_demo_routes(&stack).await?;
    assert_health_ok(&http).await?;
    assert_web_panel(&http, &day2_out).await?;
    // A new Pebble, a new root; the README's HTTPS line verifies against it.
    let second_root = assert_https_verifies(&stack, &day2_out).await?;
    assert_ne!(
        first_root, second_root,
        "Pebble's root did not change across down/up: the test proves nothing"
    );

    let down = stack.run("down");
    assert!(
        down.status.success(),
        "scripts/down failed:\n{}",
        text(&down)
    );
    drop(stack);
    Ok(())
}
