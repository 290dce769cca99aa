import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, it } from "vitest";
import { emptyZoneForm, formErrors, formFromZone, specFromForm, type FormErrors, type ZoneFormValues } from "../api/form";
import type { ZoneView } from "../api/types";
import { ZoneForm } from "./ZoneForm";

afterEach(cleanup);

const zone: ZoneView = {
  id: "z1",
  domain_id: "d1",
  hostname: "app.example.com",
  path_prefix: "",
  backend: { kind: "none" },
  policies: { basic_auth: { realm: "Staff", users: [{ username: "ann" }] }, rate_limit: { requests: 5, per_secs: 1, key: { kind: "client_ip" } } },
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
};

function Harness({ initial, errors, onValues }: { initial: ZoneFormValues; errors?: FormErrors; onValues?: (v: ZoneFormValues) => void }) {
  const [values, setValues] = useState(initial);
  return (
    <ZoneForm
      values={values}
      onChange={(v) => {
        setValues(v);
        onValues?.(v);
      }}
      errors={errors ?? { fields: {}, other: [] }}
      disabled={false}
      onSubmit={() => undefined}
      busy={false}
      submitLabel="Review changes"
    />
  );
}

describe("<ZoneForm> policies", () => {
  it("starts collapsed for a zone without policies, with the summary 'none'", () => {
    render(<Harness initial={emptyZoneForm} />);
    const toggle = screen.getByRole("button", { name: /^Policies/ });
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    expect(toggle.textContent).toContain("none");
    expect(screen.queryByRole("checkbox", { name: "Rate limit" })).toBeNull();
    fireEvent.click(toggle);
    expect(toggle.getAttribute("aria-expanded")).toBe("true");
    fireEvent.click(screen.getByRole("checkbox", { name: "Rate limit" }));
    expect(screen.getByLabelText("Requests")).toBeTruthy();
    expect(toggle.textContent).toContain("rate limit");
  });

  it("shows a stored user as a stored password to keep or replace, without needing its hash", () => {
    let last: ZoneFormValues | null = null;
    const { container } = render(
      <Harness
        initial={formFromZone(zone)}
        onValues={(v) => {
          last = v;
        }}
      />,
    );
    const toggle = screen.getByRole("button", { name: /^Policies/ });
    expect(toggle.getAttribute("aria-expanded")).toBe("true");
    expect(toggle.textContent).toContain("auth");
    expect(container.innerHTML).not.toContain("argon2id$");
    for (const input of container.querySelectorAll("input, textarea")) expect((input as HTMLInputElement).value).not.toContain("$argon2");
    const choice = screen.getByLabelText<HTMLSelectElement>("User 1 password");
    expect(choice.value).toBe("keep");
    expect(screen.getByText(/Stored as a hash, which the panel never shows/)).toBeTruthy();
    fireEvent.change(choice, { target: { value: "replace" } });
    const fresh = screen.getByLabelText<HTMLInputElement>("User 1 new password");
    expect(fresh.type).toBe("password");
    fireEvent.change(fresh, { target: { value: "n3w" } });
    expect(last).not.toBeNull();
    expect((last as ZoneFormValues | null)?.policies.basicAuth.users[0]).toMatchObject({ replace: true, password: "n3w", stored: "ann" });
  });

  it("shows each of the API's problems next to its input, and opens the section for them", () => {
    const errors = formErrors([
      { field: "policies.rate_limit.requests", problem: "requests is 0; it must be 1–1000000" },
      { field: "policies.basic_auth.users[0].hash", problem: "hash is not a valid bcrypt hash" },
    ]);
    const initial = formFromZone(zone);
    const { rerender } = render(<Harness initial={initial} />);
    // Collapsed by the user, then the API answers with problems in it: it opens again.
    const toggle = screen.getByRole("button", { name: /^Policies/ });
    fireEvent.click(toggle);
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    rerender(<Harness initial={initial} errors={errors} />);
    expect(toggle.getAttribute("aria-expanded")).toBe("true");
    const requests = screen.getByLabelText("Requests");
    expect(requests.getAttribute("aria-invalid")).toBe("true");
    const described = (requests.getAttribute("aria-describedby") ?? "").split(" ").map((id) => document.getElementById(id)?.textContent ?? "");
    expect(described.join(" ")).toContain("requests is 0; it must be 1–1000000");
    const user = screen.getByLabelText("User 1 password");
    const userDescribed = (user.getAttribute("aria-describedby") ?? "").split(" ").map((id) => document.getElementById(id)?.textContent ?? "");
    expect(userDescribed.join(" ")).toContain("hash is not a valid bcrypt hash");
  });

  it("adds and deletes header rows and error pages, sending what was filled in", () => {
    let last: ZoneFormValues = emptyZoneForm;
    render(
      <Harness
        initial={{ ...emptyZoneForm, hostname: "a.example.com", backendKind: "none" }}
        onValues={(v) => {
          last = v;
        }}
      />,
    );
    fireEvent.click(screen.getByRole("button", { name: /^Policies/ }));
    const request = within(screen.getByRole("group", { name: "Request headers (to the backend)" }));
    fireEvent.click(request.getByRole("button", { name: "+ Header to set" }));
    fireEvent.click(request.getByRole("button", { name: "+ Header to set" }));
    fireEvent.change(request.getByLabelText("Set request header 2 name"), { target: { value: "x-env" } });
    fireEvent.change(request.getByLabelText("Set request header 2 value"), { target: { value: "prod" } });
    fireEvent.click(request.getByRole("button", { name: "+ Header to remove" }));
    fireEvent.change(request.getByLabelText("Request header to remove 1"), { target: { value: "x-debug" } });
    const pages = within(screen.getByRole("group", { name: "Custom error pages" }));
    fireEvent.click(pages.getByRole("button", { name: "Add error page" }));
    fireEvent.change(pages.getByLabelText("Error page 1 status"), { target: { value: "503" } });
    fireEvent.change(pages.getByLabelText("Error page 1 body"), { target: { value: "<h1>Back soon</h1>" } });
    fireEvent.click(screen.getByRole("checkbox", { name: "Max body size" }));
    fireEvent.change(screen.getByLabelText("Largest request body"), { target: { value: "2" } });
    fireEvent.change(screen.getByLabelText("Unit"), { target: { value: "GiB" } });
    expect(screen.getByText(/= 2,147,483,648 bytes/)).toBeTruthy();
    const result = specFromForm(last);
    expect(result.ok && result.spec.policies).toEqual({
      request_headers: { remove: ["x-debug"], set: [{ name: "x-env", value: "prod" }] },
      max_body_bytes: 2147483648,
      error_pages: { "503": { content_type: "text/html; charset=utf-8", body: "<h1>Back soon</h1>" } },
    });
    fireEvent.click(request.getByRole("button", { name: "Delete set request header 1" }));
    expect(request.getByLabelText<HTMLInputElement>("Set request header 1 name").value).toBe("x-env");
  });

  it("edits a JWT policy: algorithms, key source, token source, claims; a stored secret is kept or replaced, never shown", () => {
    const stored: ZoneView = {
      ...zone,
      policies: { jwt: { algorithms: ["HS256"], audiences: ["api"], claims_to_headers: { sub: "x-user" }, leeway_secs: 30, realm: "api" } },
    };
    let last: ZoneFormValues = formFromZone(stored);
    render(
      <Harness
        initial={last}
        onValues={(v) => {
          last = v;
        }}
      />,
    );
    expect(screen.getByRole("button", { name: /^Policies/ }).textContent).toContain("JWT");
    const jwt = within(screen.getByRole("group", { name: "JWT" }));
    expect(jwt.getByRole<HTMLInputElement>("checkbox", { name: "HS256" }).checked).toBe(true);
    expect(jwt.getByLabelText<HTMLSelectElement>("Key source").value).toBe("secret");
    const choice = jwt.getByLabelText<HTMLSelectElement>("HMAC secret");
    expect(choice.value).toBe("keep");
    expect(jwt.getByText(/never shows/)).toBeTruthy();
    // Kept: sent without any key source.
    let result = specFromForm(last);
    expect(result.ok && result.spec.policies?.jwt).toEqual({ algorithms: ["HS256"], audiences: ["api"], claims_to_headers: { sub: "x-user" }, leeway_secs: 30, realm: "api" });
    fireEvent.change(choice, { target: { value: "replace" } });
    const fresh = jwt.getByLabelText<HTMLInputElement>("New HMAC secret");
    expect(fresh.type).toBe("password");
    fireEvent.change(fresh, { target: { value: "x".repeat(32) } });
    fireEvent.click(jwt.getByRole("checkbox", { name: "HS512" }));
    fireEvent.change(jwt.getByLabelText("Token from"), { target: { value: "cookie" } });
    fireEvent.change(jwt.getByLabelText("Token cookie"), { target: { value: "session" } });
    fireEvent.click(jwt.getByRole("button", { name: "+ Claim to header" }));
    fireEvent.change(jwt.getByLabelText("Claim 2"), { target: { value: "roles" } });
    fireEvent.change(jwt.getByLabelText("Claim 2 header"), { target: { value: "x-roles" } });
    fireEvent.click(jwt.getByRole("button", { name: "Delete audience 1" }));
    result = specFromForm(last);
    expect(result.ok && result.spec.policies?.jwt).toEqual({
      algorithms: ["HS256", "HS512"],
      secret: "x".repeat(32),
      cookie: "session",
      claims_to_headers: { sub: "x-user", roles: "x-roles" },
      leeway_secs: 30,
      realm: "api",
    });
    // Another key source instead: its own input, and the secret is not sent.
    fireEvent.change(jwt.getByLabelText("Key source"), { target: { value: "jwks_url" } });
    fireEvent.change(jwt.getByLabelText("JWK set URL"), { target: { value: "https://idp.example/keys" } });
    result = specFromForm(last);
    expect(result.ok && result.spec.policies?.jwt).toMatchObject({ jwks_url: "https://idp.example/keys" });
    expect(result.ok && result.spec.policies?.jwt).not.toHaveProperty("secret");
  });

  it("edits forward auth and shows the API's problems with both policies next to their inputs", () => {
    let last: ZoneFormValues = emptyZoneForm;
    const initial = { ...emptyZoneForm, hostname: "a.example.com", backendKind: "none" as const };
    const { rerender } = render(
      <Harness
        initial={initial}
        onValues={(v) => {
          last = v;
        }}
      />,
    );
    fireEvent.click(screen.getByRole("button", { name: /^Policies/ }));
    fireEvent.click(screen.getByRole("checkbox", { name: "Forward auth" }));
    const fa = within(screen.getByRole("group", { name: "Forward auth" }));
    fireEvent.change(fa.getByLabelText("Authorisation service URL"), { target: { value: "http://auth.internal/check" } });
    fireEvent.click(fa.getByRole("button", { name: "+ Header to send" }));
    fireEvent.change(fa.getByLabelText("Header to send 1"), { target: { value: "cookie" } });
    fireEvent.click(fa.getByRole("button", { name: "+ Header to copy" }));
    fireEvent.change(fa.getByLabelText("Header to copy 1"), { target: { value: "x-user" } });
    fireEvent.change(fa.getByLabelText("Timeout (ms)"), { target: { value: "1500" } });
    expect(screen.getByRole("button", { name: /^Policies/ }).textContent).toContain("forward auth");
    const result = specFromForm(last);
    expect(result.ok && result.spec.policies).toEqual({ forward_auth: { url: "http://auth.internal/check", request_headers: ["cookie"], response_headers: ["x-user"], timeout_ms: 1500 } });

    fireEvent.click(screen.getByRole("checkbox", { name: "JWT" }));
    const errors = formErrors(
      [
        { field: "policies.forward_auth.url", problem: 'url "x" is not a URL' },
        { field: "policies.forward_auth.response_headers[0]", problem: 'header "x-user" is written by both jwt and forward_auth' },
        { field: "policies.jwt.algorithms[0]", problem: '"XS256" is not an algorithm' },
        { field: "policies.jwt", problem: "gives no key sources" },
      ],
      last,
    );
    rerender(<Harness initial={initial} errors={errors} />);
    const describedBy = (el: HTMLElement) => (el.getAttribute("aria-describedby") ?? "").split(" ").map((id) => document.getElementById(id)?.textContent ?? "").join(" ");
    const url = fa.getByLabelText("Authorisation service URL");
    expect(url.getAttribute("aria-invalid")).toBe("true");
    expect(describedBy(url)).toContain('url "x" is not a URL');
    expect(describedBy(fa.getByLabelText("Header to copy 1"))).toContain("written by both jwt and forward_auth");
    const jwt = within(screen.getByRole("group", { name: "JWT" }));
    expect(within(jwt.getByRole("group", { name: "Algorithms" })).getByText('"XS256" is not an algorithm')).toBeTruthy();
    expect(jwt.getByText("gives no key sources")).toBeTruthy();
  });

  it("edits a traffic split: starts as a canary, adds groups and upstream rows, switches a group to the zone's backend", () => {
    let last: ZoneFormValues = emptyZoneForm;
    render(
      <Harness
        initial={last}
        onValues={(v) => {
          last = v;
        }}
      />,
    );
    fireEvent.click(screen.getByRole("button", { name: /^Policies/ }));
    fireEvent.click(screen.getByRole("checkbox", { name: "Traffic split" }));
    const split = within(screen.getByRole("group", { name: "Traffic split" }));
    expect(split.getByLabelText<HTMLInputElement>("Group 1 name").value).toBe("stable");
    expect(split.getByRole<HTMLButtonElement>("button", { name: "Remove group 1" }).disabled).toBe(true);
    expect(split.getByText("Shares: stable 90%, canary 10%")).toBeTruthy();
    fireEvent.change(split.getByLabelText("Group 2 upstream 1 URL"), { target: { value: "http://10.0.0.9" } });
    fireEvent.click(split.getByRole("button", { name: "+ Upstream of group 2" }));
    fireEvent.change(split.getByLabelText("Group 2 upstream 2 URL"), { target: { value: "http://10.0.0.10" } });
    fireEvent.change(split.getByLabelText("Group 2 upstream 2 weight"), { target: { value: "3" } });
    fireEvent.click(split.getByRole("button", { name: "+ Group" }));
    fireEvent.change(split.getByLabelText("Group 3 name"), { target: { value: "dark" } });
    fireEvent.change(split.getByLabelText("Group 3 upstream 1 URL"), { target: { value: "http://10.0.0.11" } });
    fireEvent.change(split.getByLabelText("Keep a user on their group by"), { target: { value: "header" } });
    fireEvent.change(split.getByLabelText("Sticky header"), { target: { value: "x-user-id" } });
    let result = specFromForm(last);
    expect(result.ok && result.spec.policies?.split).toEqual({
      groups: [
        { name: "stable", weight: 90 },
        { name: "canary", weight: 10, upstreams: [{ url: "http://10.0.0.9", weight: 1 }, { url: "http://10.0.0.10", weight: 3 }] },
        { name: "dark", weight: 0, upstreams: [{ url: "http://10.0.0.11", weight: 1 }] },
      ],
      sticky: { kind: "header", name: "x-user-id" },
    });
    // Group 3 uses the zone's backend instead; groups can be removed down to two.
    fireEvent.change(split.getByLabelText("Group 3 upstreams"), { target: { value: "route" } });
    expect(split.queryByLabelText("Group 3 upstream 1 URL")).toBeNull();
    fireEvent.click(split.getByRole("button", { name: "Remove group 1" }));
    expect(split.getByRole<HTMLButtonElement>("button", { name: "Remove group 1" }).disabled).toBe(true);
    result = specFromForm(last);
    expect(result.ok && result.spec.policies?.split?.groups).toEqual([
      { name: "canary", weight: 10, upstreams: [{ url: "http://10.0.0.9", weight: 1 }, { url: "http://10.0.0.10", weight: 3 }] },
      { name: "dark", weight: 0 },
    ]);
    expect(screen.getByRole("button", { name: /^Policies/ }).textContent).toContain("split");
  });
});
