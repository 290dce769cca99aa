import { describe, expect, it } from "vitest";
import { fieldChanges, isEmptyDiff } from "./diff";
import { emptyZoneForm, formErrors, formFromZone, specFromForm, type ZoneFormValues } from "./form";
import { blankUser, describePolicies, emptyPolicyForm, formPolicyBadges, passwordsSet, policyBadges, policyErrorTarget, policyFormFromApi, secretsSet, splitBytes, type PolicyFormValues } from "./policies";
import type { Policies, ZoneView } from "./types";

/** Everything docs/policies.md shows, as the API returns it (users by username only: it never answers a hash). */
const stored: Policies = {
  rewrite: { kind: "strip_prefix" },
  redirect: { code: 301, pattern: "^/old/(.*)$", target: "/new/$1", keep_query: true },
  request_headers: { remove: ["x-debug"], set: [{ name: "x-env", value: "prod" }], add: [{ name: "x-client", value: "{client_ip} via {scheme}" }] },
  response_headers: { remove: ["server"] },
  hsts: { max_age_secs: 31536000, include_subdomains: true },
  security_headers: true,
  max_body_bytes: 10485760,
  basic_auth: { realm: "Staff", users: [{ username: "ann" }, { username: "bob" }] },
  rate_limit: { requests: 100, per_secs: 60, burst: 20, key: { kind: "header", name: "x-api-key" } },
  error_pages: { "503": { content_type: "text/html; charset=utf-8", body: "<h1>Back soon</h1><!-- {request_id} -->" } },
};

const zone = (policies?: Policies): ZoneView => ({
  id: "0b6f0c8e-0000-4000-8000-000000000001",
  domain_id: "0b6f0c8e-0000-4000-8000-000000000002",
  hostname: "app.example.com",
  path_prefix: "/api",
  backend: { kind: "upstreams", upstreams: [{ url: "http://10.0.0.5:8080", weight: 1 }] },
  force_https: false,
  preserve_host: false,
  allow: [],
  timeouts: {},
  ...(policies ? { policies } : {}),
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-02T00:00:00Z",
});

const withPolicies = (p: Partial<PolicyFormValues>): ZoneFormValues => ({ ...emptyZoneForm, hostname: "app.example.com", policies: { ...emptyPolicyForm, ...p } });

function sent(form: ZoneFormValues) {
  const result = specFromForm(form);
  if (!result.ok) throw new Error(`not sendable: ${JSON.stringify(result.problems)}`);
  return result.spec;
}

describe("policies: form → payload", () => {
  it("sends no policies key when nothing is on", () => {
    expect("policies" in sent(withPolicies({}))).toBe(false);
    // Values typed into a policy that is switched off are not sent either.
    const off = withPolicies({
      rateLimit: { ...emptyPolicyForm.rateLimit, on: false, requests: "5" },
      basicAuth: { on: false, realm: "x", users: [{ ...blankUser(), username: "ann", password: "pw" }] },
      request_headers: { remove: ["  "], set: [{ name: "", value: "" }], add: [] },
      hsts: { ...emptyPolicyForm.hsts, on: false },
    });
    expect("policies" in sent(off)).toBe(false);
  });

  it("sends back unchanged the policies it has no editor for (what a newer API adds)", () => {
    const newer = { ...stored, mirror: { percent: 5 } } as typeof stored;
    const form = formFromZone(zone(newer));
    expect(form.policies.passthrough).toEqual({ mirror: { percent: 5 } });
    expect(sent(form).policies).toEqual(newer);
  });

  it("gives back what the API stored: every policy, stored users by username only", () => {
    const form = formFromZone(zone(stored));
    expect(sent(form).policies).toEqual(stored);
    // No hash is needed: a stored user sent by username keeps its stored password.
    expect(form.policies.basicAuth.users.map((u) => [u.username, u.password, u.replace])).toEqual([
      ["ann", "", false],
      ["bob", "", false],
    ]);
  });

  it("keeps a stored user by username only, sends a replaced or new user's password, and drops a removed one", () => {
    const form = formFromZone(zone(stored));
    const [ann, bob] = form.policies.basicAuth.users;
    if (!ann || !bob) throw new Error("two users");
    form.policies = {
      ...form.policies,
      basicAuth: {
        ...form.policies.basicAuth,
        users: [ann, { ...blankUser(), username: " cat ", password: " s3cret " }],
      },
    };
    expect(sent(form).policies?.basic_auth?.users).toEqual([
      { username: "ann" },
      { username: "cat", password: " s3cret " },
    ]);
    form.policies.basicAuth.users = [{ ...ann, replace: true, password: "new-pass" }, bob];
    expect(sent(form).policies?.basic_auth?.users).toEqual([
      { username: "ann", password: "new-pass" },
      { username: "bob" },
    ]);
    const spec = sent(form);
    expect(JSON.stringify(spec)).not.toMatch(/"hash"/);
    expect(passwordsSet(spec.policies)).toEqual(["ann"]);
  });

  it("omits empty parts: blank rows, empty lists, defaults left as they are", () => {
    const spec = sent(
      withPolicies({
        request_headers: { remove: ["", " x-debug "], set: [{ name: "", value: "" }], add: [] },
        response_headers: { remove: [], set: [], add: [{ name: "", value: " " }] },
        redirect: { on: true, code: "302", pattern: " ", target: " /maintenance ", keepQuery: false },
        rateLimit: { on: true, requests: "10", perSecs: "", burst: "", keyKind: "client_ip", keyHeader: "", scope: "proxy" },
        basicAuth: { on: true, realm: "", users: [{ ...blankUser(), username: "ann", password: "pw" }, blankUser()] },
        errorPages: [{ status: "429", contentType: "", body: "slow down" }],
      }),
    );
    expect(spec.policies).toEqual({
      request_headers: { remove: ["x-debug"] },
      redirect: { code: 302, target: "/maintenance" },
      rate_limit: { requests: 10, per_secs: 1 },
      basic_auth: { realm: "Restricted", users: [{ username: "ann", password: "pw" }] },
      error_pages: { "429": { content_type: "text/html; charset=utf-8", body: "slow down" } },
    });
  });

  it("turns a size with its unit into bytes, and bytes into the largest exact unit", () => {
    const spec = sent(withPolicies({ maxBody: { on: true, amount: "1.5", unit: "MiB" } }));
    expect(spec.policies).toEqual({ max_body_bytes: 1572864 });
    expect(splitBytes(10485760)).toEqual({ amount: "10", unit: "MiB" });
    expect(splitBytes(68719476736)).toEqual({ amount: "64", unit: "GiB" });
    expect(splitBytes(1500)).toEqual({ amount: "1500", unit: "B" });
    expect(policyFormFromApi({ max_body_bytes: 2048 }).maxBody).toEqual({ on: true, amount: "2", unit: "KiB" });
  });

  it("sends numbers the API checks (0 included), and refuses only what is not a number", () => {
    expect(sent(withPolicies({ rateLimit: { ...emptyPolicyForm.rateLimit, on: true, requests: "0" } })).policies?.rate_limit?.requests).toBe(0);
    const result = specFromForm(
      withPolicies({
        rateLimit: { on: true, requests: "", perSecs: "a minute", burst: "99999999999", keyKind: "client_ip", keyHeader: "", scope: "proxy" },
        hsts: { on: true, maxAge: "1y", includeSubdomains: false, preload: false },
        maxBody: { on: true, amount: "0.5", unit: "B" },
        errorPages: [
          { status: "503", contentType: "", body: "a" },
          { status: "503", contentType: "", body: "b" },
        ],
      }),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => p.field)).toEqual([
      "policies.hsts.max_age_secs",
      "policies.max_body_bytes",
      "policies.rate_limit.requests",
      "policies.rate_limit.per_secs",
      "policies.rate_limit.burst",
      "policies.error_pages[1].status",
    ]);
    // …and those problems land next to their inputs.
    const errors = formErrors(result.problems);
    expect(errors.other).toEqual([]);
    expect(errors.fields["policies.rate_limit.requests"]).toEqual(["give the number of requests"]);
    expect(errors.fields["policies.error_pages[1].status"]).toEqual(["503 has a page above already; a status has one page"]);
  });
});

describe("policies: the API's problems → the form's inputs", () => {
  it("puts each problem next to its input", () => {
    const errors = formErrors([
      { field: "policies.rate_limit.requests", problem: "requests is 0; it must be 1–1000000" },
      { field: "policies.rate_limit.key.name", problem: 'header name "x key" is not a token' },
      { field: "policies.hsts.preload", problem: "preload needs include_subdomains" },
      { field: "policies.max_body_bytes", problem: "max_body_bytes is 0" },
      { field: "policies.rewrite", problem: "strip_prefix needs a route with a path prefix" },
      { field: "policies.rewrite.replacement", problem: "refers to group 2" },
      { field: "policies.redirect.code", problem: "303 is not one of 301, 302, 307, 308" },
      { field: "policies.basic_auth.realm", problem: "realm must be 1–200 characters" },
      { field: "policies.basic_auth.users", problem: "lists no user" },
      { field: "policies.basic_auth.users[0].hash", problem: "hash is neither an argon2id hash nor bcrypt" },
      { field: "policies.basic_auth.users[1]", problem: "gives neither hash nor password" },
      { field: "policies.basic_auth.users[1].username", problem: 'username "a:b"' },
      { field: "policies.basic_auth.users[2].password", problem: "password must be 1–1024 bytes" },
      { field: "policies.request_headers", problem: "has 65 header edits" },
      { field: "policies.response_headers.add[0].value", problem: "uses the unknown variable {nope}" },
    ]);
    expect(errors.other).toEqual([]);
    expect(errors.fields).toEqual({
      "policies.rate_limit.requests": ["requests is 0; it must be 1–1000000"],
      "policies.rate_limit.key.name": ['header name "x key" is not a token'],
      "policies.hsts.preload": ["preload needs include_subdomains"],
      "policies.max_body_bytes": ["max_body_bytes is 0"],
      "policies.rewrite": ["strip_prefix needs a route with a path prefix"],
      "policies.rewrite.replacement": ["refers to group 2"],
      "policies.redirect.code": ["303 is not one of 301, 302, 307, 308"],
      "policies.basic_auth.realm": ["realm must be 1–200 characters"],
      "policies.basic_auth.users": ["lists no user"],
      "policies.basic_auth.users[0].credential": ["hash is neither an argon2id hash nor bcrypt"],
      "policies.basic_auth.users[1].credential": ["gives neither hash nor password"],
      "policies.basic_auth.users[1].username": ['username "a:b"'],
      "policies.basic_auth.users[2].password": ["password must be 1–1024 bytes"],
      "policies.request_headers": ["has 65 header edits"],
      "policies.response_headers.add[0].value": ["uses the unknown variable {nope}"],
    });
  });

  it("turns the API's positions into the form's rows when blank rows were left out", () => {
    const form = withPolicies({
      request_headers: { remove: ["", "x-forwarded-for"], set: [{ name: "", value: "" }, { name: "x-a", value: "1" }, { name: "Bad Name", value: "2" }], add: [] },
      basicAuth: { on: true, realm: "r", users: [blankUser(), { ...blankUser(), username: "a:b", password: "pw" }] },
      errorPages: [
        { status: "401", contentType: "", body: "" },
        { status: "503", contentType: "html", body: "" },
      ],
    });
    const errors = formErrors(
      [
        { field: "policies.request_headers.remove[0]", problem: "is set by the proxy" },
        { field: "policies.request_headers.set[1].name", problem: "not a token" },
        { field: "policies.basic_auth.users[0].username", problem: "has a colon" },
        { field: "policies.error_pages.503.content_type", problem: "not a media type" },
      ],
      form,
    );
    expect(errors.fields).toEqual({
      "policies.request_headers.remove[1]": ["is set by the proxy"],
      "policies.request_headers.set[2].name": ["not a token"],
      "policies.basic_auth.users[1].username": ["has a colon"],
      "policies.error_pages[1].content_type": ["not a media type"],
    });
  });

  it("reads bulk-shaped positions, and keeps what names no input on the section", () => {
    const errors = formErrors([
      { field: "create[0].policies.rate_limit.per_secs", problem: "per_secs is 7200" },
      { field: "policies", problem: 'proxy "edge-1" reads data format 1; policies need format 2' },
      { field: "policies.something_new", problem: "unknown field `something_new`" },
    ]);
    expect(errors.other).toEqual([]);
    expect(errors.fields).toEqual({
      "policies.rate_limit.per_secs": ["per_secs is 7200"],
      policies: ['proxy "edge-1" reads data format 1; policies need format 2', "something_new: unknown field `something_new`"],
    });
  });
});

describe("policies in words", () => {
  it("badges what a zone has, in the list's order", () => {
    expect(policyBadges(undefined)).toEqual([]);
    expect(policyBadges({})).toEqual([]);
    expect(policyBadges(stored)).toEqual(["auth", "rate limit", "HSTS", "security headers", "rewrite", "redirect", "headers", "body limit", "error pages"]);
    expect(policyBadges({ response_headers: { remove: [] }, hsts: { max_age_secs: 0 } })).toEqual(["HSTS"]);
  });

  it("shows a policy change in the dry run's diff, a new password from the write's payload", () => {
    // The API answers the same users before and after (no hashes): only the payload
    // tells that ann gets a new password.
    const after: Policies = { ...stored, basic_auth: { realm: "Staff", users: [{ username: "ann" }, { username: "bob" }] } };
    expect(fieldChanges(zone(stored), zone(after))).toEqual([]);
    const [change] = fieldChanges(zone(stored), zone(after), { passwords: ["ann"], jwtSecret: false });
    expect(change?.field).toBe("policies");
    expect(change?.after).toContain("basic auth “Staff”: ann (new password), bob");
    expect(change?.before).toContain("basic auth “Staff”: ann, bob");
    const diff = { dry_run: true, created: [], changed: [{ id: "z", before: zone(stored), after: zone(after) }], deleted: [], version: null, committed_at: null, records: [] };
    expect(isEmptyDiff(diff)).toBe(true);
    expect(isEmptyDiff(diff, { passwords: ["ann"], jwtSecret: false })).toBe(false);
    expect(describePolicies(stored)).toBe(
      "rewrite: strip the prefix; redirect 301 ^/old/(.*)$ → /new/$1 (with the query); request headers: remove x-debug, set x-env: prod, add x-client: {client_ip} via {scheme}; " +
        "response headers: remove server; HSTS max-age 31536000, includeSubDomains; security headers; body ≤ 10 MiB; basic auth “Staff”: ann, bob; " +
        "rate limit 100 per 60 s, burst 20, by header x-api-key; error pages: 503",
    );
    // A change the words leave out is still shown as one.
    const newBody: Policies = { ...stored, error_pages: { "503": { content_type: "text/html; charset=utf-8", body: "<h1>Soon</h1>" } } };
    expect(fieldChanges(zone(stored), zone(newBody))[0]?.after).toMatch(/\(details changed\)$/);
    expect(fieldChanges(zone(), zone({}))).toEqual([]);
  });
});

// --- JWT and forward auth -------------------------------------------------------------------

/** A 32-byte HMAC secret, as an operator would paste one. */
const SECRET = "0123456789abcdef0123456789abcdef";

/** The API's answer for a JWT policy with an HMAC secret: no key source at all (the secret is write-only). */
const storedJwt: Policies = {
  jwt: {
    algorithms: ["HS256"],
    issuer: "https://idp.example",
    audiences: ["api", "admin"],
    cookie: "session",
    claims_to_headers: { sub: "x-user", roles: "x-roles" },
    leeway_secs: 10,
    realm: "staff",
  },
  forward_auth: { url: "http://auth.internal/check", request_headers: ["cookie"], response_headers: ["x-auth-user"], timeout_ms: 2000 },
};

describe("JWT and forward auth: form ⇄ payload", () => {
  it("gives back what the API stored, keeping the stored secret by sending no key source", () => {
    const form = formFromZone(zone(storedJwt));
    expect(form.policies.jwt).toMatchObject({ on: true, keyKind: "secret", storedSecret: true, replaceSecret: false, secret: "", tokenFrom: "cookie", tokenCookie: "session" });
    expect(form.policies.jwt.claims).toEqual([
      { claim: "sub", header: "x-user" },
      { claim: "roles", header: "x-roles" },
    ]);
    const spec = sent(form);
    expect(spec.policies).toEqual(storedJwt);
    expect(spec.policies?.jwt).not.toHaveProperty("secret");
    expect(secretsSet(spec.policies)).toEqual({ passwords: [], jwtSecret: false });
  });

  it("sends a new secret only when one is set, and any other key source instead of the secret", () => {
    const form = formFromZone(zone(storedJwt));
    form.policies = { ...form.policies, jwt: { ...form.policies.jwt, replaceSecret: true, secret: SECRET } };
    expect(sent(form).policies?.jwt?.secret).toBe(SECRET);
    expect(secretsSet(sent(form).policies)).toEqual({ passwords: [], jwtSecret: true });
    // Switched to a JWK set: the URL replaces the secret (never both).
    form.policies = { ...form.policies, jwt: { ...form.policies.jwt, keyKind: "jwks_url", jwksUrl: " https://idp.example/keys ", algorithms: ["RS256"] } };
    const jwt = sent(form).policies?.jwt;
    expect(jwt?.jwks_url).toBe("https://idp.example/keys");
    expect(jwt).not.toHaveProperty("secret");
    expect(jwt).not.toHaveProperty("public_key_pem");
    // Back to the secret without typing one: the stored one is kept again.
    form.policies = { ...form.policies, jwt: { ...form.policies.jwt, keyKind: "secret", replaceSecret: false, secret: "" } };
    expect(sent(form).policies?.jwt).not.toHaveProperty("secret");
    expect(sent(form).policies?.jwt).not.toHaveProperty("jwks_url");
  });

  it("reads a public key or a JWK set as that source, with nothing stored to keep", () => {
    const pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----";
    const form = policyFormFromApi({ jwt: { algorithms: ["EdDSA"], public_key_pem: pem, header: "x-token", leeway_secs: 30, realm: "api" } });
    expect(form.jwt).toMatchObject({ keyKind: "public_key_pem", storedSecret: false, publicKeyPem: pem, tokenFrom: "header", tokenHeader: "x-token" });
    expect(policyFormFromApi({ jwt: { algorithms: ["RS256"], jwks_url: "https://idp/keys", header: "authorization", leeway_secs: 30, realm: "api" } }).jwt).toMatchObject({
      keyKind: "jwks_url",
      storedSecret: false,
      tokenFrom: "authorization",
    });
  });

  it("sends a new zone's policies with defaults, in the API's algorithm order, leaving out what is empty", () => {
    const spec = sent(
      withPolicies({
        jwt: {
          ...emptyPolicyForm.jwt,
          on: true,
          algorithms: ["HS512", "HS256"],
          keyKind: "secret",
          secret: SECRET,
          audiences: ["", " api "],
          claims: [{ claim: "", header: "" }, { claim: " sub ", header: " X-User " }],
          leewaySecs: "",
          realm: " ",
        },
        forwardAuth: { on: true, url: " http://auth.internal/check ", requestHeaders: ["", "Authorization"], responseHeaders: [" "], timeoutMs: "" },
      }),
    );
    expect(spec.policies).toEqual({
      jwt: { algorithms: ["HS256", "HS512"], secret: SECRET, audiences: ["api"], claims_to_headers: { sub: "X-User" }, leeway_secs: 30, realm: "api" },
      forward_auth: { url: "http://auth.internal/check", request_headers: ["Authorization"], timeout_ms: 5000 },
    });
    // Switched off: nothing of either is sent.
    const off = withPolicies({ jwt: { ...emptyPolicyForm.jwt, secret: SECRET, algorithms: ["HS256"] }, forwardAuth: { ...emptyPolicyForm.forwardAuth, url: "http://x" } });
    expect("policies" in sent(off)).toBe(false);
  });

  it("refuses what cannot be sent: a number that is not one, a claim given twice", () => {
    const result = specFromForm(
      withPolicies({
        jwt: { ...emptyPolicyForm.jwt, on: true, algorithms: ["RS256"], jwksUrl: "https://idp/keys", leewaySecs: "soon", claims: [{ claim: "sub", header: "x-a" }, { claim: "sub", header: "x-b" }] },
        forwardAuth: { ...emptyPolicyForm.forwardAuth, on: true, url: "http://a", timeoutMs: "2s" },
      }),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => p.field)).toEqual(["policies.jwt.leeway_secs", "policies.jwt.claims_to_headers[1].claim", "policies.forward_auth.timeout_ms"]);
  });
});

describe("JWT and forward auth: the API's problems → the form's inputs", () => {
  it("puts each problem next to its input, by the form's rows", () => {
    const form = withPolicies({
      jwt: {
        ...emptyPolicyForm.jwt,
        on: true,
        algorithms: ["HS256"],
        keyKind: "secret",
        secret: "short",
        audiences: ["", "api", ""],
        claims: [{ claim: "", header: "" }, { claim: "sub", header: "host" }],
      },
      forwardAuth: { ...emptyPolicyForm.forwardAuth, on: true, url: "auth", requestHeaders: ["", "bad header"], responseHeaders: ["x-user", "", "content-length"] },
    });
    const errors = formErrors(
      [
        { field: "policies.jwt.algorithms[0]", problem: '"none" is not allowed' },
        { field: "policies.jwt.algorithms", problem: "a secret verifies HS256, HS384 or HS512 only" },
        { field: "policies.jwt.secret", problem: "secret is 5 bytes" },
        { field: "policies.jwt.audiences[0]", problem: "audience must be 1–1024 characters" },
        { field: "policies.jwt.claims_to_headers.sub", problem: 'header "host" cannot be edited' },
        { field: "policies.jwt.claims_to_headers.nope", problem: "gone" },
        { field: "policies.jwt", problem: "jwt and basic_auth both read the Authorization header" },
        { field: "policies.jwt.leeway_secs", problem: "leeway_secs is 601" },
        { field: "policies.jwt.cookie", problem: "cookie name" },
        { field: "policies.forward_auth.url", problem: 'url "auth" is not a URL' },
        { field: "policies.forward_auth.timeout_ms", problem: "timeout_ms is 0" },
        { field: "policies.forward_auth.request_headers[0]", problem: 'header name "bad header" is not a token' },
        { field: "policies.forward_auth.response_headers[1]", problem: 'header "content-length" cannot be edited' },
        { field: "update[0].zone.policies.forward_auth", problem: "whole" },
      ],
      form,
    );
    expect(errors.other).toEqual([]);
    expect(errors.fields).toEqual({
      "policies.jwt.algorithms": ['"none" is not allowed', "a secret verifies HS256, HS384 or HS512 only"],
      "policies.jwt.secret": ["secret is 5 bytes"],
      "policies.jwt.audiences[1]": ["audience must be 1–1024 characters"],
      "policies.jwt.claims_to_headers[1].header": ['header "host" cannot be edited'],
      "policies.jwt.claims_to_headers": ["claim nope: gone"],
      "policies.jwt": ["jwt and basic_auth both read the Authorization header"],
      "policies.jwt.leeway_secs": ["leeway_secs is 601"],
      "policies.jwt.cookie": ["cookie name"],
      "policies.forward_auth.url": ['url "auth" is not a URL', "whole"],
      "policies.forward_auth.timeout_ms": ["timeout_ms is 0"],
      "policies.forward_auth.request_headers[1]": ['header name "bad header" is not a token'],
      "policies.forward_auth.response_headers[2]": ['header "content-length" cannot be edited'],
    });
  });
});

describe("JWT and forward auth in words", () => {
  it("badges them in the list and in the form's heading", () => {
    expect(policyBadges(storedJwt)).toEqual(["JWT", "forward auth"]);
    expect(policyBadges({ ...stored, ...storedJwt })).toEqual(["auth", "JWT", "forward auth", "rate limit", "HSTS", "security headers", "rewrite", "redirect", "headers", "body limit", "error pages"]);
    expect(formPolicyBadges(formFromZone(zone(storedJwt)).policies)).toEqual(["JWT", "forward auth"]);
  });

  it("describes them in the dry run's diff without a secret, marking a new one from the write's payload", () => {
    expect(describePolicies(storedJwt)).toBe(
      "JWT HS256 “staff”, HMAC secret, issuer https://idp.example, audience api or admin, token from cookie session, claims sub → x-user, roles → x-roles, leeway 10 s; " +
        "forward auth http://auth.internal/check, sending cookie, copying x-auth-user, timeout 2000 ms",
    );
    // The API answers the policy the same before and after (never its secret): only the
    // payload tells that the secret changes.
    expect(fieldChanges(zone(storedJwt), zone(storedJwt))).toEqual([]);
    const form = formFromZone(zone(storedJwt));
    form.policies = { ...form.policies, jwt: { ...form.policies.jwt, replaceSecret: true, secret: SECRET } };
    const payload = sent(form).policies;
    const [change] = fieldChanges(zone(storedJwt), zone(storedJwt), secretsSet(payload));
    expect(change?.before).toContain("HMAC secret,");
    expect(change?.after).toContain("HMAC secret (new secret)");
    const diff = { dry_run: true, created: [], changed: [{ id: "z", before: zone(storedJwt), after: zone(storedJwt) }], deleted: [], version: null, committed_at: null, records: [] };
    expect(isEmptyDiff(diff)).toBe(true);
    expect(isEmptyDiff(diff, secretsSet(payload))).toBe(false);
    // Whatever the write holds, the words never carry the secret.
    expect(describePolicies(payload, storedJwt, secretsSet(payload))).not.toContain(SECRET);
    expect(describePolicies({ jwt: { algorithms: ["RS256"], jwks_url: "https://idp/keys", leeway_secs: 30, realm: "api" } })).toBe("JWT RS256 “api”, JWK set https://idp/keys");
  });
});

describe("health check: form ⇄ payload", () => {
  const check = { path: "/healthz?full=1", expected_status: "200-299,302", interval_ms: 2000, timeout_ms: 500, healthy_threshold: 1, unhealthy_threshold: 4, host: "app.internal" };

  it("gives back what the API stored, and is no longer passed through unedited", () => {
    const form = formFromZone(zone({ ...stored, health_check: check }));
    expect(form.policies.healthCheck).toEqual({
      on: true,
      path: "/healthz?full=1",
      expectedStatus: "200-299,302",
      intervalMs: "2000",
      timeoutMs: "500",
      healthyThreshold: "1",
      unhealthyThreshold: "4",
      host: "app.internal",
    });
    expect(form.policies.passthrough).toEqual({});
    expect(sent(form).policies).toEqual({ ...stored, health_check: check });
  });

  it("sends a new check with the defaults for what is left empty, and no host unless given", () => {
    const spec = sent(withPolicies({ healthCheck: { ...emptyPolicyForm.healthCheck, on: true, path: " /ready ", expectedStatus: " ", intervalMs: "", timeoutMs: "", healthyThreshold: "", unhealthyThreshold: "" } }));
    expect(spec.policies).toEqual({
      health_check: { path: "/ready", expected_status: "200-399", interval_ms: 5000, timeout_ms: 1000, healthy_threshold: 2, unhealthy_threshold: 3 },
    });
    expect(formPolicyBadges(withPolicies({ healthCheck: { ...emptyPolicyForm.healthCheck, on: true } }).policies)).toEqual(["health check"]);
    expect(policyBadges({ health_check: check })).toEqual(["health check"]);
  });

  it("refuses a number that is not one, and puts the API's problems next to their inputs", () => {
    const result = specFromForm(withPolicies({ healthCheck: { ...emptyPolicyForm.healthCheck, on: true, intervalMs: "5s" } }));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems).toEqual([{ field: "policies.health_check.interval_ms", problem: '"5s" is not a whole number' }]);
    for (const field of ["path", "expected_status", "interval_ms", "timeout_ms", "healthy_threshold", "unhealthy_threshold", "host"]) {
      expect(policyErrorTarget(`policies.health_check.${field}`)).toEqual({ field: `policies.health_check.${field}`, prefix: "" });
    }
    expect(policyErrorTarget("policies.health_check")).toEqual({ field: "policies.health_check.path", prefix: "" });
  });

  it("describes the check in the dry run's diff", () => {
    expect(describePolicies({ health_check: check })).toBe(
      "health check GET /healthz?full=1 (Host app.internal) expecting 200-299,302 every 2000 ms, timeout 500 ms, out after 4 failures, back after 1 pass",
    );
  });
});

describe("traffic split and head limit: form ⇄ payload", () => {
  const split: NonNullable<Policies["split"]> = {
    groups: [
      { name: "stable", weight: 90 },
      { name: "canary", weight: 10, upstreams: [{ url: "http://10.0.0.9:8080", weight: 1 }, { url: "https://10.0.0.10", weight: 3 }] },
    ],
    sticky: { kind: "cookie", name: "sy_cohort", max_age_secs: 3600 },
    force: { header: "x-canary-cohort", cookie: "canary_cohort" },
  };

  it("gives back what the API stored, now edited rather than passed through", () => {
    const form = formFromZone(zone({ ...stored, max_header_bytes: 4096, split }));
    expect(form.policies.passthrough).toEqual({});
    expect(form.policies.maxHeader).toEqual({ on: true, amount: "4", unit: "KiB" });
    expect(form.policies.split.groups.map((g) => [g.name, g.weight, g.own, g.upstreams.length])).toEqual([
      ["stable", "90", false, 0],
      ["canary", "10", true, 2],
    ]);
    expect(sent(form).policies).toEqual({ ...stored, max_header_bytes: 4096, split });
    expect(formPolicyBadges(form.policies)).toEqual(expect.arrayContaining(["split", "header limit"]));
    const byHeader = { groups: split.groups, sticky: { kind: "header" as const, name: "x-user-id" } };
    expect(sent(formFromZone(zone({ split: byHeader }))).policies).toEqual({ split: byHeader });
    const drawn = { groups: split.groups };
    expect(sent(formFromZone(zone({ split: drawn }))).policies).toEqual({ split: drawn });
  });

  it("starts a new split as a canary beside the zone's backend, leaving out blank upstream rows", () => {
    const form = withPolicies({
      split: {
        ...emptyPolicyForm.split,
        on: true,
        groups: [
          { name: " stable ", weight: "95", own: false, upstreams: [] },
          { name: "canary", weight: "5", own: true, upstreams: [{ url: "", weight: "1" }, { url: " http://10.0.0.9 ", weight: "2" }] },
        ],
        forceHeader: " x-cohort ",
      },
      maxHeader: { on: true, amount: "8", unit: "KiB" },
    });
    expect(sent(form).policies).toEqual({
      max_header_bytes: 8192,
      split: {
        groups: [
          { name: "stable", weight: 95 },
          { name: "canary", weight: 5, upstreams: [{ url: "http://10.0.0.9", weight: 2 }] },
        ],
        sticky: { kind: "cookie", name: "sy_cohort", max_age_secs: 86400 },
        force: { header: "x-cohort" },
      },
    });
  });

  it("refuses what is not a number, naming the row as the API would", () => {
    const result = specFromForm(
      withPolicies({
        split: {
          ...emptyPolicyForm.split,
          on: true,
          groups: [
            { name: "a", weight: "lots", own: false, upstreams: [] },
            { name: "b", weight: "1", own: true, upstreams: [{ url: "", weight: "1" }, { url: "http://x", weight: "two" }] },
          ],
        },
        maxHeader: { on: true, amount: "", unit: "KiB" },
      }),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toEqual([
      { field: "policies.max_header_bytes", problem: "give the largest request head" },
      { field: "policies.split.groups[0].weight", problem: '"lots" is not a whole number' },
      { field: "policies.split.groups[1].upstreams[0].weight", problem: '"two" is not a whole number' },
    ]);
  });

  it("puts the API's problems next to their inputs, upstream rows by the form's rows", () => {
    const form = withPolicies({
      split: {
        ...emptyPolicyForm.split,
        on: true,
        groups: [
          { name: "stable", weight: "1", own: false, upstreams: [] },
          { name: "canary", weight: "1", own: true, upstreams: [{ url: "", weight: "1" }, { url: "ftp://x", weight: "1" }] },
        ],
      },
    }).policies;
    expect(policyErrorTarget("policies.split.groups[1].upstreams[0].url", form)).toEqual({ field: "policies.split.groups[1].upstreams[1].url", prefix: "" });
    expect(policyErrorTarget("policies.split.groups[1].name", form)).toEqual({ field: "policies.split.groups[1].name", prefix: "" });
    expect(policyErrorTarget("policies.split.groups", form)).toEqual({ field: "policies.split.groups", prefix: "" });
    expect(policyErrorTarget("policies.split.sticky.max_age_secs", form)).toEqual({ field: "policies.split.sticky.max_age_secs", prefix: "" });
    expect(policyErrorTarget("policies.split.force", form)).toEqual({ field: "policies.split.force", prefix: "" });
    expect(policyErrorTarget("policies.max_header_bytes", form)).toEqual({ field: "policies.max_header_bytes", prefix: "" });
  });

  it("describes them in the dry run's diff", () => {
    expect(describePolicies({ max_header_bytes: 16384, split })).toBe(
      "request head ≤ 16 KiB; split stable 90 (the zone's backend) / canary 10 (http://10.0.0.9:8080, https://10.0.0.10 ×3), sticky by cookie sy_cohort (3600 s), forced by header x-canary-cohort or cookie canary_cohort",
    );
  });
});

describe("retries, circuit breaker and a fleet rate limit: form ⇄ payload", () => {
  const resilient: Policies = {
    rate_limit: { requests: 100, per_secs: 60, scope: "fleet" },
    retry: { attempts: 3, on_status: [503, 504], on_reset: false, budget_percent: 10, min_per_sec: 5, backoff_ms: 50, max_backoff_ms: 500 },
    circuit_breaker: { consecutive_failures: 4, error_percent: 50, window_secs: 30, min_requests: 40, open_secs: 15, half_open_requests: 2 },
  };

  it("gives back what the API stored, every field", () => {
    expect(sent(formFromZone(zone(resilient))).policies).toEqual(resilient);
  });

  it("sends a new retry and breaker with their defaults, the statuses in the API's order", () => {
    const spec = sent(
      withPolicies({
        retry: { ...emptyPolicyForm.retry, on: true, attempts: "2", onStatus: [504, 502] },
        breaker: { ...emptyPolicyForm.breaker, on: true },
      }),
    );
    expect(spec.policies).toEqual({
      retry: { attempts: 2, on_status: [502, 504], on_reset: true, budget_percent: 20, min_per_sec: 10, backoff_ms: 25, max_backoff_ms: 250 },
      circuit_breaker: { consecutive_failures: 5, window_secs: 10, min_requests: 20, open_secs: 10, half_open_requests: 1 },
    });
    expect(formPolicyBadges(withPolicies({ retry: { ...emptyPolicyForm.retry, on: true } }).policies)).toEqual(["retry"]);
    expect(policyBadges(resilient)).toEqual(["fleet rate limit", "retry", "circuit breaker"]);
  });

  it("refuses what is not a number and puts the API's problems next to their inputs", () => {
    const result = specFromForm(withPolicies({ retry: { ...emptyPolicyForm.retry, on: true, attempts: "" }, breaker: { ...emptyPolicyForm.breaker, on: true, openSecs: "soon" } }));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const fields = result.problems.map((p) => p.field);
    expect(fields).toContain("policies.retry.attempts");
    expect(fields).toContain("policies.circuit_breaker.open_secs");
    const form = withPolicies({ retry: { ...emptyPolicyForm.retry, on: true }, breaker: { ...emptyPolicyForm.breaker, on: true } });
    const errors = formErrors(
      [
        { field: "policies.retry.on_status[0]", problem: "status 500 is not retried" },
        { field: "policies.retry.max_backoff_ms", problem: "too small" },
        { field: "policies.circuit_breaker.error_percent", problem: "error_percent is 101" },
      ],
      form,
    ).fields;
    expect(errors["policies.retry.on_status"]).toEqual(["status 500 is not retried"]);
    expect(errors["policies.retry.max_backoff_ms"]).toEqual(["too small"]);
    expect(errors["policies.circuit_breaker.error_percent"]).toEqual(["error_percent is 101"]);
  });

  it("describes them in the dry run's words", () => {
    expect(describePolicies(resilient)).toBe(
      "rate limit 100 per 60 s, by client IP, fleet-wide; retry 3 tries on 503, 504, budget 10%, backoff 50–500 ms; " +
        "circuit breaker after 4 failures or 50% of ≥ 40 in 30 s, open 15 s",
    );
  });
});
