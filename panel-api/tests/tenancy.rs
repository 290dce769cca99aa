//! Identity and tenancy end to end: the authorization matrix (every endpoint × every kind
//! of caller), cross-tenant isolation, cookie sessions with CSRF, logout, login limits.

mod common;

use std::collections::BTreeMap;

use common::*;
use panel_api::entity::{api_keys, audit_log, sessions, zones};
use panel_api::service::{Actor, users};
use reqwest::Method;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, EntityTrait as _,
    PaginatorTrait as _, QueryFilter as _,
};
use serde_json::{Value, json};

const OWNER_PASSWORD: &str = "owner-password-51d2";
const READER_PASSWORD: &str = "reader-password-8e0b";
const STRANGER_PASSWORD: &str = "stranger-password-2c77";

/// The callers of the matrix, in column order.
const CALLERS: [&str; 8] = [
    "admin",
    "owner (edit grant)",
    "reader (read grant)",
    "stranger (no grant)",
    "anonymous",
    "revoked key",
    "expired key",
    "owner by session cookie",
];

/// Fixtures every row may refer to in its path or body: `{domain}`, `{zone}`,
/// `{reader}`; `{n}` is a fresh number, and `{fresh_zone}`, `{fresh_domain}`,
/// `{fresh_grant}` are made by the admin just before the request, so that one caller's
/// successful DELETE does not change what the next one sees.
struct World {
    admin: String,
    keys: Vec<Option<String>>,
    session: Session,
    vars: BTreeMap<&'static str, String>,
    n: usize,
}

impl World {
    async fn expand(&mut self, panel: &mut Panel, text: &str) -> anyhow::Result<String> {
        self.n += 1;
        let mut out = text.replace("{n}", &self.n.to_string());
        for (name, value) in &self.vars {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        if out.contains("{fresh_zone}") {
            let id = panel
                .zone(&self.admin, &format!("fresh{}.example.com", self.n))
                .await?;
            out = out.replace("{fresh_zone}", &id);
        }
        if out.contains("{fresh_domain}") {
            let id = panel
                .domain(&self.admin, &format!("fresh{}.test", self.n))
                .await?;
            out = out.replace("{fresh_domain}", &id);
        }
        if out.contains("{fresh_named}") {
            let id = self
                .named_backend(panel, &format!("fresh{}", self.n))
                .await?;
            out = out.replace("{fresh_named}", &id);
        }
        if out.contains("{fresh_key}") {
            let owner = self.keys[1].clone().unwrap();
            let reply = panel
                .call(
                    Method::POST,
                    "/api-keys",
                    Auth::Bearer(&owner),
                    Some(json!({"name": format!("fresh{}", self.n)})),
                )
                .await?;
            anyhow::ensure!(reply.status == 201, "api key: {}", reply.json);
            out = out.replace("{fresh_key}", reply.json["id"].as_str().unwrap());
        }
        if out.contains("{fresh_user}") {
            let admin = self.admin.clone();
            let id = panel
                .user(&admin, &format!("fresh{}", self.n), "a-fresh-user-password")
                .await?;
            out = out.replace("{fresh_user}", &id);
        }
        if out.contains("{fresh_cred}") {
            let id = credential(panel, &self.admin, &format!("fresh{}", self.n)).await?;
            out = out.replace("{fresh_cred}", &id);
        }
        if out.contains("{fresh_grant}") {
            let domain = panel
                .domain(&self.admin, &format!("granted{}.test", self.n))
                .await?;
            let admin = self.admin.clone();
            let reader = self.vars["reader"].clone();
            let id = panel.grant(&admin, &reader, &domain, "read").await?;
            out = out.replace("{fresh_grant}", &id);
        }
        Ok(out)
    }

    /// A named backend of the owner's, with a read grant for the reader; its id.
    async fn named_backend(&self, panel: &mut Panel, name: &str) -> anyhow::Result<String> {
        let owner = self.keys[1].clone().unwrap();
        let reply = panel
            .call(
                Method::POST,
                "/named-backends",
                Auth::Bearer(&owner),
                Some(
                    json!({"name": name, "url_template": "http://{first_label}.svc.internal:8080"}),
                ),
            )
            .await?;
        anyhow::ensure!(reply.status == 201, "named backend: {}", reply.json);
        let id = reply.json["id"].as_str().unwrap().to_owned();
        let reply = panel
            .call(
                Method::POST,
                "/grants",
                Auth::Bearer(&self.admin),
                Some(json!({"user_id": self.vars["reader"], "named_backend_id": id, "level": "read"})),
            )
            .await?;
        anyhow::ensure!(reply.status == 201, "grant: {}", reply.json);
        Ok(id)
    }
}

/// A Cloudflare DNS credential (the admin's); its id.
async fn credential(panel: &mut Panel, admin: &str, name: &str) -> anyhow::Result<String> {
    let reply = panel
        .call(
            Method::POST,
            "/dns-credentials",
            Auth::Bearer(admin),
            Some(json!({"name": name, "provider": "cloudflare", "secret": {"api_token": "cf-token-4c1e"}})),
        )
        .await?;
    anyhow::ensure!(reply.status == 201, "dns credential: {}", reply.json);
    Ok(reply.json["id"].as_str().unwrap().to_owned())
}

/// `/zones/{fresh_zone}?dry_run=true` → `/zones/{id}`: the route a row exercises.
fn route_of(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let mut out = String::new();
    let mut in_var = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_var = true;
                out.push_str("{id}");
            }
            '}' => in_var = false,
            _ if !in_var => out.push(c),
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn authorization_matrix_for_every_endpoint_and_caller() -> anyhow::Result<()> {
    // A key for sealing DNS credentials (base64 of 32 bytes), so their rows can succeed.
    let secret_key = "bWF0cml4LXNlYWxpbmcta2V5LTMyLWJ5dGVzLWxvbmc=";
    let mut panel = Panel::start_with(None, &["--secret-key", secret_key]).await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let domain = panel.domain(&admin, "example.com").await?;
    let zone_id = panel.zone(&admin, "app.example.com").await?;
    let owner_id = panel.user(&admin, "owner", OWNER_PASSWORD).await?;
    let reader_id = panel.user(&admin, "reader", READER_PASSWORD).await?;
    panel.user(&admin, "stranger", STRANGER_PASSWORD).await?;
    panel.grant(&admin, &owner_id, &domain, "edit").await?;
    panel.grant(&admin, &reader_id, &domain, "read").await?;
    let (_, owner) = panel.key_for("owner", OWNER_PASSWORD).await?;
    let (_, reader) = panel.key_for("reader", READER_PASSWORD).await?;
    let (_, stranger) = panel.key_for("stranger", STRANGER_PASSWORD).await?;
    // The owner's keys that no longer work: one revoked, one past its expiry.
    let (revoked_id, revoked) = panel.key_for("owner", OWNER_PASSWORD).await?;
    let reply = panel
        .call(
            Method::DELETE,
            &format!("/api-keys/{revoked_id}"),
            Auth::Bearer(&owner),
            None,
        )
        .await?;
    assert_eq!(reply.status, 204);
    let (expired_id, expired) = panel.key_for("owner", OWNER_PASSWORD).await?;
    let mut row: api_keys::ActiveModel =
        api_keys::Entity::find_by_id(expired_id.parse::<uuid::Uuid>()?)
            .one(&panel.db)
            .await?
            .unwrap()
            .into();
    row.expires_at = Set(Some(
        time::OffsetDateTime::now_utc() - time::Duration::seconds(1),
    ));
    row.update(&panel.db).await?;
    let session = panel.login("owner", OWNER_PASSWORD).await?;

    let mut world = World {
        admin: admin.clone(),
        keys: vec![
            Some(admin),
            Some(owner),
            Some(reader),
            Some(stranger),
            None,
            Some(revoked),
            Some(expired),
            None, // the session column
        ],
        session,
        vars: BTreeMap::from([
            ("domain", domain.clone()),
            ("zone", zone_id),
            ("reader", reader_id),
        ]),
        n: 0,
    };
    let named = world.named_backend(&mut panel, "shared").await?;
    world.vars.insert("named", named);
    let cred = credential(&mut panel, &world.admin, "matrix").await?;
    world.vars.insert("cred", cred);
    // The first revision: the domain's creation, which every grant on it may read.
    let first_revision = panel_api::entity::revisions::Entity::find()
        .all(&panel.db)
        .await?
        .into_iter()
        .map(|r| r.number)
        .min()
        .unwrap();
    world.vars.insert("rev", first_revision.to_string());
    // An uploaded certificate for app.example.com; bodies of valid uploads (as dry runs:
    // one name holds one upload) for the domain and for that one.
    let self_signed = |names: &[&str]| {
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.self_signed(&key).unwrap();
        json!({"chain_pem": cert.pem(), "key_pem": key.serialize_pem()})
    };
    let mut app_upload = self_signed(&["app.example.com"]);
    app_upload["hostname"] = "app.example.com".into();
    let reply = panel
        .call(
            Method::POST,
            &format!("/domains/{domain}/uploaded-certificates"),
            Auth::Bearer(&world.admin),
            Some(app_upload),
        )
        .await?;
    anyhow::ensure!(reply.status == 201, "upload: {}", reply.json);
    world
        .vars
        .insert("upload", reply.json["id"].as_str().unwrap().to_owned());
    let wildcard_upload = self_signed(&["*.example.com", "example.com"]).to_string();
    let app_replacement = self_signed(&["app.example.com"]).to_string();

    let zone_body = |host: &str| zone(host, "", "http://127.0.0.1:9001").to_string();
    //                 admin owner reader stranger anon revoked expired session
    let rows: Vec<(Method, &str, Option<String>, [u16; 8])> = vec![
        (Method::GET, "/health", None, [200; 8]),
        // The API's own description needs no credentials (and ignores bad ones).
        (Method::GET, "/openapi.json", None, [200; 8]),
        (
            Method::GET,
            "/me",
            None,
            [200, 200, 200, 200, 401, 401, 401, 200],
        ),
        (
            Method::GET,
            "/domains",
            None,
            [200, 200, 200, 200, 401, 401, 401, 200],
        ),
        (
            Method::GET,
            "/domains/{domain}",
            None,
            [200, 200, 200, 404, 401, 401, 401, 200],
        ),
        (
            Method::POST,
            "/domains",
            Some(r#"{"name":"new{n}.test"}"#.into()),
            [201, 404, 404, 404, 401, 401, 401, 404],
        ),
        (
            Method::PATCH,
            "/domains/{fresh_domain}",
            Some(r#"{"dns_credential_id":"{cred}"}"#.into()),
            [200, 404, 404, 404, 401, 401, 401, 404],
        ),
        (
            Method::DELETE,
            "/domains/{fresh_domain}",
            None,
            [204, 404, 404, 404, 401, 401, 401, 404],
        ),
        (
            Method::GET,
            "/zones",
            None,
            [200, 200, 200, 200, 401, 401, 401, 200],
        ),
        (
            Method::GET,
            "/zones/{zone}",
            None,
            [200, 200, 200, 404, 401, 401, 401, 200],
        ),
        (
            Method::GET,
            "/zones/{zone}/dns-check",
            None,
            [200, 200, 200, 404, 401, 401, 401, 200],
        ),
        (
            Method::GET,
            "/domains/{domain}/dns-check",
            None,
            [200, 200, 200, 404, 401, 401, 401, 200],
        ),
        (
            Method::POST,
            "/zones",
            Some(zone_body("z{n}.example.com")),
            // Outside every domain one may edit reads like outside every domain: 422.
            [201, 201, 422, 422, 401, 401, 401, 201],
        ),
        (
            Method::PUT,
            "/zones/{fresh_zone}",
            Some(zone_body("p{n}.example.com")),
            [200, 200, 404, 404, 401, 401, 401, 200],
        ),
        (
            Method::DELETE,
            "/zones/{fresh_zone}",
            None,
            [204, 204, 404, 404, 401, 401, 401, 204],
        ),
        (
            Method::GET,
            "/users",
            None,
            [200, 404, 404, 404, 401, 401, 401, 404],
        ),
        (
            Method::POST,
            "/users",
            Some(r#"{"username":"u{n}","password":"a-long-password-{n}"}"#.into()),
            [201, 404, 404, 404, 401, 401, 401, 404],
        ),
        (
            Method::GET,
            "/users/{reader}",
            None,
            [200, 404, 404, 404, 401, 401, 401, 404],
        ),
        (
            Method::PATCH,
            "/users/{reader}",
            Some(r#"{"disabled":false}"#.into()),
            [200, 404, 404, 404, 401, 401, 401, 404],
        ),
        (
            Method::DELETE,
            "/users/{fresh_user}",
            None,
            [204, 404, 404, 404, 401, 401, 401, 404],
        ),
        (
            // Everyone may change their own password; the admin's is the one given, so
            // the others' proof fails (403). A dry run: the callers keep their sessions.
            Method::POST,
            "/me/password?dry_run=true",
            Some(format!(
                r#"{{"current_password":"{ADMIN_PASSWORD}","new_password":"another-password-{{n}}"}}"#
            )),
            [200, 403, 403, 403, 401, 401, 401, 403],
        ),
        (
            Method::GET,
            "/grants",
            None,
            [200, 404, 404, 404, 401, 401, 401, 404],
        ),
        (
            Method::POST,
            "/grants",
            Some(r#"{"user_id":"{reader}","domain_id":"{fresh_domain}","level":"read"}"#.into()),
            [201, 404, 404, 404, 401, 401, 401, 404],
        ),
        (
            Method::DELETE,
            "/grants/{fresh_grant}",
            None,
            [204, 404, 404, 404, 401, 401, 401, 404],
        ),
        (
            Method::GET,
            "/domains/{domain}/certificate",
            None,
            [200, 200, 200, 404, 401, 401, 401, 200],
        ),
        (
            Method::POST,
            "/domains/{domain}/certificate/reissue",
            None,
            [200, 200, 404, 404, 401, 401, 401, 200],
        ),
        (
            Method::GET,
            "/domains/{domain}/uploaded-certificates",
            None,
            [200, 200, 200, 404, 401, 401, 401, 200],
        ),
        (
            Method::POST,
            "/domains/{domain}/uploaded-certificates?dry_run=true",
            Some(wildcard_upload),
            [200, 200, 404, 404, 401, 401, 401, 200],
        ),
        (
            Method::GET,
            "/uploaded-certificates/{upload}",
            None,
            [200, 200, 200, 404, 401, 401, 401, 200],
        ),
        (
            Method::PUT,
            "/uploaded-certificates/{upload}?dry_run=true",
            Some(app_replacement),
            [200, 200, 404, 404, 401, 401, 401, 200],
        ),
        (
            Method::DELETE,
            "/uploaded-certificates/{upload}?dry_run=true",
            None,
            [200, 200, 404, 404, 401, 401, 401, 200],
        ),
        (
            Method::GET,
            "/zones/{zone}/certificate",
            None,
            [200, 200, 200, 404, 401, 401, 401, 200],
        ),
        (
            Method::GET,
            "/certificates/uncovered",
            None,
            [200, 200, 200, 200, 401, 401, 401, 200],
        ),
        (
            Method::GET,
            "/audit",
            None,
            [200, 200, 200, 200, 401, 401, 401, 200],
        ),
        (
            Method::GET,
            "/dns-credentials",
            None,
            [200, 404, 404, 404, 401, 401, 401, 404],
        ),
        (
            Method::POST,
            "/dns-credentials",
            Some(r#"{"name":"manual{n}","provider":"manual"}"#.into()),
            [201, 404, 404, 404, 401, 401, 401, 404],
        ),
        (
            Method::GET,
            "/export",
            None,
            [200, 200, 200, 200, 401, 401, 401, 200],
        ),
        (
            Method::POST,
            "/import?dry_run=true",
            Some(r#"{"format":"switchyard-export/1","zones":[]}"#.into()),
            [200, 200, 200, 200, 401, 401, 401, 200],
        ),
        (
            Method::GET,
            "/api-keys",
            None,
            [200, 200, 200, 200, 401, 401, 401, 200],
        ),
        (
            Method::POST,
            "/api-keys",
            Some(r#"{"name":"k{n}"}"#.into()),
            [201, 201, 201, 201, 401, 401, 401, 201],
        ),
        (
            // Keys are one's own: even the admin cannot revoke another user's.
            Method::DELETE,
            "/api-keys/{fresh_key}",
            None,
            [404, 204, 404, 404, 401, 401, 401, 204],
        ),
        (
            Method::PATCH,
            "/dns-credentials/{cred}",
            Some(r#"{"secret":{"api_token":"cf-token-rotated-{n}"}}"#.into()),
            [200, 404, 404, 404, 401, 401, 401, 404],
        ),
        (
            Method::DELETE,
            "/dns-credentials/{fresh_cred}",
            None,
            [204, 404, 404, 404, 401, 401, 401, 404],
        ),
        (
            Method::POST,
            "/zones/bulk",
            Some(format!(
                r#"{{"create":[{}]}}"#,
                zone_body("b{n}.example.com")
            )),
            [200, 200, 422, 422, 401, 401, 401, 200],
        ),
        (
            Method::POST,
            "/import/flat?dry_run=true",
            Some(
                r#"{"env":{"domains":"f{n}.example.com:app","services":"app:127.0.0.1:8080"}}"#
                    .into(),
            ),
            [200, 200, 422, 422, 401, 401, 401, 200],
        ),
        (
            Method::GET,
            "/named-backends",
            None,
            [200, 200, 200, 200, 401, 401, 401, 200],
        ),
        (
            Method::GET,
            "/named-backends/{named}",
            None,
            [200, 200, 200, 404, 401, 401, 401, 200],
        ),
        (
            // Everyone may define backends of their own.
            Method::POST,
            "/named-backends",
            Some(
                r#"{"name":"nb{n}","url_template":"http://{first_label}.svc.internal:9000"}"#
                    .into(),
            ),
            [201, 201, 201, 201, 401, 401, 401, 201],
        ),
        (
            Method::PUT,
            "/named-backends/{fresh_named}",
            Some(
                r#"{"name":"renamed{n}","url_template":"http://{first_label}.svc.internal:9001"}"#
                    .into(),
            ),
            [200, 200, 404, 404, 401, 401, 401, 200],
        ),
        (
            Method::DELETE,
            "/named-backends/{fresh_named}",
            None,
            [204, 204, 404, 404, 401, 401, 401, 204],
        ),
        (
            Method::GET,
            "/revisions",
            None,
            [200, 200, 200, 200, 401, 401, 401, 200],
        ),
        (
            Method::GET,
            "/revisions/{rev}",
            None,
            [200, 200, 200, 404, 401, 401, 401, 200],
        ),
        (
            Method::GET,
            "/zones/{zone}/revisions",
            None,
            [200, 200, 200, 404, 401, 401, 401, 200],
        ),
        (
            // Back to before the zone existed: it is deleted. A reader sees the zone and
            // its history, so refusing them is 403, not 404.
            Method::POST,
            "/zones/{fresh_zone}/rollback",
            Some(r#"{"revision":{rev}}"#.into()),
            [200, 200, 403, 404, 401, 401, 401, 200],
        ),
        (
            Method::POST,
            "/rollback?dry_run=true",
            Some(r#"{"revision":{rev}}"#.into()),
            [200, 404, 404, 404, 401, 401, 401, 404],
        ),
    ];

    // Every route the API documents has a row here, so a new endpoint cannot skip the
    // matrix. Login and logout are about identity, not grants: the cookie tests below.
    let doc = panel
        .call(Method::GET, "/openapi.json", Auth::None, None)
        .await?;
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in doc.json["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let path = route_of(path.strip_prefix("/api/v1").unwrap());
            if !path.starts_with("/auth/") {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let covered: std::collections::BTreeSet<String> = rows
        .iter()
        .map(|(method, path, _, _)| format!("{method} {}", route_of(path)))
        .collect();
    let missing: Vec<&String> = documented.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "routes without a matrix row: {missing:?}"
    );

    let mut failures = Vec::new();
    for (method, path, body, expected) in &rows {
        for (column, caller) in CALLERS.iter().enumerate() {
            let path = world.expand(&mut panel, path).await?;
            let body = match body {
                Some(b) => Some(serde_json::from_str::<Value>(
                    &world.expand(&mut panel, b).await?,
                )?),
                None => None,
            };
            let audits_before = audit_log::Entity::find().count(&panel.db).await?;
            let key = world.keys[column].clone();
            let session = world.session.clone();
            let auth = match (&key, column) {
                (_, 7) => session.auth(),
                (Some(key), _) => Auth::Bearer(key),
                (None, _) => Auth::None,
            };
            let reply = panel.call(method.clone(), &path, auth, body).await?;
            let audits = audit_log::Entity::find().count(&panel.db).await? - audits_before;
            if reply.status != expected[column] {
                failures.push(format!(
                    "{method} {path} as {caller}: expected {}, got {} {}",
                    expected[column], reply.status, reply.json
                ));
            }
            if reply.status >= 400 {
                // One error shape, and a refused request changes nothing.
                assert!(
                    reply.json["error"]["code"].is_string(),
                    "{method} {path}: {}",
                    reply.json
                );
                assert_eq!(
                    audits, 0,
                    "{method} {path} as {caller} was refused but audited"
                );
            } else if path.contains("dry_run=true") {
                assert_eq!(
                    audits, 0,
                    "{method} {path} as {caller}: a dry run was audited"
                );
            } else if *method != Method::GET {
                // Every mutation writes exactly one audit record per row it changes: one,
                // but for a domain's deletion, which takes its certificate with it.
                let domain_itself = path
                    .split('?')
                    .next()
                    .and_then(|p| p.strip_prefix("/domains/"))
                    .is_some_and(|id| !id.contains('/'));
                let rows = if *method == Method::DELETE && domain_itself {
                    2
                } else {
                    1
                };
                assert_eq!(
                    audits, rows,
                    "{method} {path} as {caller}: {audits} audit records"
                );
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_no_secrets(&panel, &[ADMIN_PASSWORD, OWNER_PASSWORD, READER_PASSWORD]);
    panel.stop().await
}

#[tokio::test]
async fn tenants_see_and_change_only_what_they_are_granted() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let alpha = panel.domain(&admin, "alpha.test").await?;
    let beta = panel.domain(&admin, "beta.test").await?;
    let alice_id = panel.user(&admin, "alice", OWNER_PASSWORD).await?;
    let bob_id = panel.user(&admin, "bob", READER_PASSWORD).await?;
    panel.grant(&admin, &alice_id, &alpha, "edit").await?;
    panel.grant(&admin, &bob_id, &beta, "edit").await?;
    let (_, alice) = panel.key_for("alice", OWNER_PASSWORD).await?;
    let (_, bob) = panel.key_for("bob", READER_PASSWORD).await?;
    let alice_zone = panel.zone(&alice, "www.alpha.test").await?;
    let bob_zone = panel.zone(&bob, "www.beta.test").await?;
    // A deeper domain inside alice's that only the admin has: not hers to route.
    panel.domain(&admin, "deep.alpha.test").await?;

    // Lists hold only one's own; search stays inside the grant.
    let reply = panel
        .call(Method::GET, "/zones", Auth::Bearer(&alice), None)
        .await?;
    assert_eq!(reply.json["total"], 1);
    assert_eq!(reply.json["items"][0]["hostname"], "www.alpha.test");
    let reply = panel
        .call(Method::GET, "/zones?q=beta", Auth::Bearer(&alice), None)
        .await?;
    assert_eq!(reply.json["total"], 0, "{}", reply.json);
    let reply = panel
        .call(Method::GET, "/domains", Auth::Bearer(&bob), None)
        .await?;
    let names: Vec<&str> = reply.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["beta.test"]);
    let reply = panel
        .call(Method::GET, "/zones", Auth::Bearer(&admin), None)
        .await?;
    assert_eq!(reply.json["total"], 2);

    // Alice reaching into bob's tenancy: reads and writes answer as if nothing were there.
    let before = zones::Entity::find().all(&panel.db).await?;
    let redis_before = panel.redis.all_keys().await?;
    for (method, path, body) in [
        (Method::GET, format!("/zones/{bob_zone}"), None),
        (Method::GET, format!("/domains/{beta}"), None),
        (
            Method::PUT,
            format!("/zones/{bob_zone}"),
            Some(zone("www.beta.test", "", "http://127.0.0.1:6666")),
        ),
        (Method::DELETE, format!("/zones/{bob_zone}"), None),
        // Moving her own zone into bob's domain.
        (
            Method::PUT,
            format!("/zones/{alice_zone}"),
            Some(zone("evil.beta.test", "", "http://127.0.0.1:6666")),
        ),
        (
            Method::POST,
            "/zones".to_owned(),
            Some(zone("api.beta.test", "", "http://127.0.0.1:6666")),
        ),
        (
            Method::POST,
            "/zones".to_owned(),
            Some(zone("x.deep.alpha.test", "", "http://127.0.0.1:6666")),
        ),
    ] {
        let reply = panel
            .call(method.clone(), &path, Auth::Bearer(&alice), body)
            .await?;
        assert!(
            matches!(reply.status, 404 | 422),
            "{method} {path}: {} {}",
            reply.status,
            reply.json
        );
        if reply.status == 422 {
            assert_eq!(reply.json["error"]["details"][0]["field"], "hostname");
        }
    }
    assert_eq!(zones::Entity::find().all(&panel.db).await?, before);
    assert_eq!(panel.redis.all_keys().await?, redis_before);
    let record = panel.zone_record("www.beta.test").await?.unwrap();
    assert!(upstream_urls(&record, "")[0].contains("127.0.0.1:9001"));

    // Revoking the grant takes effect on the next request.
    let reply = panel
        .call(
            Method::GET,
            &format!("/grants?user_id={alice_id}"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.json["total"], 1);
    let grant = reply.json["items"][0]["id"].as_str().unwrap().to_owned();
    let reply = panel
        .call(
            Method::DELETE,
            &format!("/grants/{grant}"),
            Auth::Bearer(&admin),
            None,
        )
        .await?;
    assert_eq!(reply.status, 204);
    let reply = panel
        .call(
            Method::GET,
            &format!("/zones/{alice_zone}"),
            Auth::Bearer(&alice),
            None,
        )
        .await?;
    assert_eq!(reply.status, 404);
    panel.stop().await
}

#[tokio::test]
async fn sessions_need_csrf_for_writes_and_logout_revokes() -> anyhow::Result<()> {
    let mut panel = Panel::start().await?;
    let reply = panel
        .call(
            Method::POST,
            "/auth/login",
            Auth::None,
            Some(json!({"username": ADMIN, "password": "wrong password"})),
        )
        .await?;
    assert_eq!(reply.status, 401);
    assert!(reply.set_cookies.is_empty());

    let reply = panel
        .call(
            Method::POST,
            "/auth/login",
            Auth::None,
            Some(json!({"username": ADMIN, "password": ADMIN_PASSWORD})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["user"]["username"], ADMIN);
    assert!(reply.json["user"].get("password_hash").is_none());
    let session_cookie = reply
        .set_cookies
        .iter()
        .find(|c| c.starts_with("sy_session="))
        .expect("session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(
            session_cookie.contains(attribute),
            "{attribute}: {session_cookie}"
        );
    }
    // This panel runs with --cookie-secure false (plain-HTTP tests).
    assert!(!session_cookie.contains("Secure"), "{session_cookie}");
    let csrf_cookie = reply
        .set_cookies
        .iter()
        .find(|c| c.starts_with("sy_csrf="))
        .expect("CSRF cookie");
    assert!(
        !csrf_cookie.contains("HttpOnly"),
        "scripts must read it: {csrf_cookie}"
    );
    let cookie = session_cookie["sy_session=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = reply.json["csrf_token"].as_str().unwrap().to_owned();
    assert!(csrf_cookie.contains(&csrf));
    // Only digests are stored.
    let stored = sessions::Entity::find().one(&panel.db).await?.unwrap();
    assert_ne!(stored.token_hash, cookie);
    assert_ne!(stored.csrf_token_hash, csrf);

    // Reads need only the cookie.
    let reply = panel
        .call(
            Method::GET,
            "/me",
            Auth::Session {
                cookie: &cookie,
                csrf: None,
            },
            None,
        )
        .await?;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json["via"], "session");
    // Writes without the CSRF token, or with a wrong one, are refused and change nothing.
    let audits = audit_log::Entity::find().count(&panel.db).await?;
    for csrf in [None, Some("0000"), Some(cookie.as_str())] {
        let reply = panel
            .call(
                Method::POST,
                "/domains",
                Auth::Session {
                    cookie: &cookie,
                    csrf,
                },
                Some(json!({"name": "example.com"})),
            )
            .await?;
        assert_eq!(reply.status, 403, "{csrf:?}: {}", reply.json);
        assert_eq!(reply.json["error"]["code"], "forbidden");
        assert!(
            reply.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("x-csrf-token")
        );
    }
    assert_eq!(audit_log::Entity::find().count(&panel.db).await?, audits);
    let auth = Auth::Session {
        cookie: &cookie,
        csrf: Some(&csrf),
    };
    let reply = panel
        .call(
            Method::POST,
            "/domains",
            auth,
            Some(json!({"name": "example.com"})),
        )
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.json);
    let row = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("domain.create"))
        .one(&panel.db)
        .await?
        .unwrap();
    assert_eq!(row.actor_label, format!("{ADMIN} (session)"));

    // Logout (itself CSRF-checked) revokes the session: the cookie is dead afterwards.
    let reply = panel
        .call(
            Method::POST,
            "/auth/logout",
            Auth::Session {
                cookie: &cookie,
                csrf: None,
            },
            None,
        )
        .await?;
    assert_eq!(reply.status, 403);
    let reply = panel
        .call(
            Method::POST,
            "/auth/logout",
            Auth::Session {
                cookie: &cookie,
                csrf: Some(&csrf),
            },
            None,
        )
        .await?;
    assert_eq!(reply.status, 204);
    assert!(
        reply
            .set_cookies
            .iter()
            .any(|c| c.starts_with("sy_session=;")
                || c.starts_with("sy_session=\"\"")
                || c.starts_with("sy_session=") && c.contains("Max-Age=0")),
        "{:?}",
        reply.set_cookies
    );
    let reply = panel
        .call(
            Method::GET,
            "/me",
            Auth::Session {
                cookie: &cookie,
                csrf: None,
            },
            None,
        )
        .await?;
    assert_eq!(reply.status, 401);
    assert_eq!(panel.audit_count("session.create").await?, 1);
    assert_eq!(panel.audit_count("session.revoke").await?, 1);

    // A password change ends the user's other sessions.
    users::create(
        &panel.db,
        &Actor::system("test"),
        "carol",
        OWNER_PASSWORD,
        "user",
    )
    .await?;
    let carol = panel.login("carol", OWNER_PASSWORD).await?;
    let (_, admin) = panel.key_for(ADMIN, ADMIN_PASSWORD).await?;
    let carol_id = panel
        .call(Method::GET, "/me", carol.auth(), None)
        .await?
        .json["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = panel
        .call(
            Method::PATCH,
            &format!("/users/{carol_id}"),
            Auth::Bearer(&admin),
            Some(json!({"password": "a-brand-new-password"})),
        )
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(
        panel
            .call(Method::GET, "/me", carol.auth(), None)
            .await?
            .status,
        401
    );
    assert!(panel.login("carol", OWNER_PASSWORD).await.is_err());
    panel.login("carol", "a-brand-new-password").await?;
    // Disabled users cannot log in.
    let reply = panel
        .call(
            Method::PATCH,
            &format!("/users/{carol_id}"),
            Auth::Bearer(&admin),
            Some(json!({"disabled": true})),
        )
        .await?;
    assert_eq!(reply.status, 200);
    assert!(panel.login("carol", "a-brand-new-password").await.is_err());

    assert_no_secrets(
        &panel,
        &[
            ADMIN_PASSWORD,
            OWNER_PASSWORD,
            "a-brand-new-password",
            &cookie,
        ],
    );
    // The CSRF token is returned by its login only, and never logged.
    assert!(!panel.logs.text().contains(&csrf));
    for (request, body) in &panel.bodies {
        assert!(
            request == "POST /auth/login" || !body.contains(&csrf),
            "{request}: {body}"
        );
    }
    panel.stop().await
}

#[tokio::test]
async fn login_attempts_are_limited_per_user_and_per_address() -> anyhow::Result<()> {
    let mut panel = Panel::start_with(
        None,
        &[
            "--login-per-user-per-minute",
            "3",
            "--login-per-address-per-minute",
            "6",
        ],
    )
    .await?;
    users::create(
        &panel.db,
        &Actor::system("test"),
        "alice",
        OWNER_PASSWORD,
        "user",
    )
    .await?;
    // Limits replenish continuously (GCRA), and debug-build argon2 is slow, so the exact
    // attempt that is refused depends on timing: at least the limit's worth get through,
    // and a refusal comes soon after.
    let mut refused_at = None;
    for n in 1..=10 {
        let reply = attempt(&mut panel, "alice", "guess-guess-guess").await?;
        if reply.status == 429 {
            assert_eq!(reply.json["error"]["code"], "rate_limited");
            assert!(
                reply.json["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("username")
            );
            refused_at = Some(n);
            break;
        }
        assert_eq!(reply.status, 401);
    }
    let refused_at = refused_at.expect("the per-user limit refuses within 10 attempts");
    assert!(
        refused_at > 3,
        "3 attempts a minute are allowed, refused at {refused_at}"
    );
    // While refused, even the right password waits (usernames are case-insensitive).
    assert_eq!(
        attempt(&mut panel, "Alice", OWNER_PASSWORD).await?.status,
        429
    );
    // Many usernames from one address: the address's limit refuses them all.
    let mut refused = false;
    for n in 0..20 {
        let reply = attempt(&mut panel, &format!("nobody{n}"), "guess-guess-guess").await?;
        if reply.status == 429 {
            assert!(
                reply.json["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("address")
            );
            refused = true;
            break;
        }
        assert_eq!(reply.status, 401);
    }
    assert!(refused, "the per-address limit refuses within 20 attempts");
    // HTTP Basic on /api-keys is a login too.
    let reply = panel
        .call(
            Method::POST,
            "/api-keys",
            Auth::Basic("someone-else", OWNER_PASSWORD),
            Some(json!({"name": "k"})),
        )
        .await?;
    assert_eq!(reply.status, 429);
    panel.stop().await
}

async fn attempt(panel: &mut Panel, user: &str, password: &str) -> anyhow::Result<Reply> {
    let body = json!({"username": user, "password": password});
    panel
        .call(Method::POST, "/auth/login", Auth::None, Some(body))
        .await
}

#[tokio::test]
async fn cors_admits_only_the_configured_origins() -> anyhow::Result<()> {
    let panel = Panel::start_with(None, &["--cors-origins", "https://panel.example.test"]).await?;
    let url = format!("{}/zones", panel.base);
    let preflight = |origin: &str| {
        panel
            .http
            .request(Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,x-csrf-token",
            )
    };
    let response = preflight("https://panel.example.test").send().await?;
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://panel.example.test"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let allowed = headers["access-control-allow-headers"]
        .to_str()?
        .to_lowercase();
    assert!(allowed.contains("x-csrf-token"), "{allowed}");
    // Another origin gets no grant to read answers.
    let response = preflight("https://evil.example").send().await?;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let response = panel
        .http
        .get(format!("{}/health", panel.base))
        .header("origin", "https://evil.example")
        .send()
        .await?;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    panel.stop().await
}
