import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { useState } from "react";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it } from "vitest";
import { emptyZoneForm, formErrors, formFromZone, specFromForm, type FormErrors, type ZoneFormValues } from "../api/form";
import type { ZoneView } from "../api/types";
import { ZoneForm } from "./ZoneForm";
import { ZoneMatch } from "./ZonesPage";

afterEach(cleanup);

const zone: ZoneView = {
  id: "z1",
  domain_id: "d1",
  hostname: "app.example.com",
  path_prefix: "/api",
  backend: { kind: "none" },
  match: { methods: ["POST"], query: [{ name: "v", equals: "2" }] },
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

describe("<ZoneForm> match conditions", () => {
  it("starts collapsed without conditions; chips, a pattern and rows fill the spec", () => {
    let last = emptyZoneForm;
    render(
      <Harness
        initial={{ ...emptyZoneForm, hostname: "app.example.com", backendKind: "none" }}
        onValues={(v) => {
          last = v;
        }}
      />,
    );
    const toggle = screen.getByRole("button", { name: /^Match conditions/ });
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    expect(toggle.textContent).toContain("none");
    expect(screen.queryByRole("button", { name: "POST" })).toBeNull();
    fireEvent.click(toggle);

    const post = screen.getByRole("button", { name: "POST" });
    expect(post.getAttribute("aria-pressed")).toBe("false");
    fireEvent.click(post);
    fireEvent.click(screen.getByRole("button", { name: "PUT" }));
    expect(screen.getByRole("button", { name: "POST" }).getAttribute("aria-pressed")).toBe("true");
    fireEvent.change(screen.getByLabelText("Other methods"), { target: { value: "propfind" } });
    fireEvent.change(screen.getByLabelText("Path condition"), { target: { value: "regex" } });
    fireEvent.change(screen.getByLabelText("Path pattern"), { target: { value: "^/v[0-9]+/" } });
    fireEvent.click(screen.getByRole("button", { name: "Add header condition" }));
    fireEvent.change(screen.getByLabelText("Header condition 1 name"), { target: { value: "X-Beta" } });
    expect(screen.queryByLabelText("Header condition 1 value")).toBeNull();
    fireEvent.change(screen.getByLabelText("Header condition 1 test"), { target: { value: "equals" } });
    fireEvent.change(screen.getByLabelText("Header condition 1 value"), { target: { value: "1" } });
    fireEvent.click(screen.getByRole("button", { name: "Add query condition" }));
    fireEvent.change(screen.getByLabelText("Query condition 1 name"), { target: { value: "debug" } });
    expect(toggle.textContent).toContain("POST PUT PROPFIND");
    expect(toggle.textContent).toContain("X-Beta=1");

    const result = specFromForm(last);
    expect(result.ok && result.spec.match).toEqual({ path_regex: "^/v[0-9]+/", methods: ["POST", "PUT", "PROPFIND"], headers: [{ name: "X-Beta", equals: "1" }], query: [{ name: "debug" }] });

    // Removed again, nothing is sent.
    fireEvent.click(screen.getByRole("button", { name: "Remove header condition 1" }));
    fireEvent.click(screen.getByRole("button", { name: "Remove query condition 1" }));
    fireEvent.change(screen.getByLabelText("Path condition"), { target: { value: "none" } });
    fireEvent.click(screen.getByRole("button", { name: "POST" }));
    fireEvent.click(screen.getByRole("button", { name: "PUT" }));
    fireEvent.change(screen.getByLabelText("Other methods"), { target: { value: "" } });
    const cleared = specFromForm(last);
    expect(cleared.ok && "match" in cleared.spec).toBe(false);
  });

  it("starts open on a zone with conditions", () => {
    render(<Harness initial={formFromZone(zone)} />);
    expect(screen.getByRole("button", { name: /^Match conditions/ }).getAttribute("aria-expanded")).toBe("true");
    expect(screen.getByRole("button", { name: "POST" }).getAttribute("aria-pressed")).toBe("true");
    expect(screen.getByLabelText<HTMLInputElement>("Query condition 1 value").value).toBe("2");
  });

  it("opens for the API's problems and shows each next to its input", () => {
    const initial = { ...emptyZoneForm, match: { ...emptyZoneForm.match, pathKind: "regex" as const, path: "(", headers: [{ name: "x-a", kind: "regex" as const, value: "[" }] } };
    const errors = formErrors(
      [
        { field: "match.path_regex", problem: "not a valid regular expression" },
        { field: "match.headers[0].regex", problem: "pattern \"[\" is not valid" },
      ],
      initial,
    );
    const { rerender } = render(<Harness initial={{ ...initial, match: { ...initial.match } }} />);
    // Collapsed? No: it has conditions. Fold it, then the problems arrive.
    fireEvent.click(screen.getByRole("button", { name: /^Match conditions/ }));
    expect(screen.queryByLabelText("Path pattern")).toBeNull();
    rerender(<Harness initial={initial} errors={errors} />);
    const pattern = screen.getByLabelText("Path pattern");
    expect(pattern.getAttribute("aria-invalid")).toBe("true");
    expect(document.getElementById(pattern.getAttribute("aria-describedby")?.split(" ").pop() ?? "")?.textContent).toContain("not a valid regular expression");
    expect(screen.getByLabelText("Header condition 1 pattern").getAttribute("aria-invalid")).toBe("true");
    expect(screen.getByText('pattern "[" is not valid')).toBeTruthy();
  });
});

describe("zones list: match badges", () => {
  it("shows the conditions beside the path, nothing without any", () => {
    const { container } = render(
      <MemoryRouter>
        <ZoneMatch match={{ path_exact: "/api/health", methods: ["POST", "PUT"], headers: [{ name: "x-beta", equals: "1" }], query: [{ name: "v", equals: "2" }] }} />
        <ZoneMatch match={undefined} />
      </MemoryRouter>,
    );
    const list = screen.getByRole("list", { name: "Match conditions" });
    expect(within(list).getAllByRole("listitem").map((li) => li.textContent)).toEqual(["= /api/health", "POST PUT", "x-beta=1", "?v=2"]);
    expect(container.querySelectorAll("ul")).toHaveLength(1);
  });
});
