import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { AuditEntry } from "./AuditEntry";

afterEach(cleanup);

describe("<AuditEntry>", () => {
  it("opens the record's before/after as a diff of the fields that changed", () => {
    render(
      <ul>
        <AuditEntry
          entry={{
            id: 7,
            at: "2026-06-01T10:00:00Z",
            actor: "root (session)",
            action: "zone.update",
            resource_type: "zone",
            resource_id: "z1",
            before: { hostname: "app.example.com", force_https: false },
            after: { hostname: "app.example.com", force_https: true },
            source_addr: "192.0.2.1",
          }}
        />
      </ul>,
    );
    expect(screen.getByText("zone.update")).toBeTruthy();
    expect(screen.queryByRole("table")).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Show changes of record 7" }));
    const row = screen.getByRole("row", { name: /force_https/ });
    expect(within(row).getByText("false").tagName).toBe("DEL");
    expect(within(row).getByText("true").tagName).toBe("INS");
    expect(screen.queryByRole("row", { name: /hostname/ })).toBeNull();
    fireEvent.click(screen.getByRole("checkbox", { name: "Show unchanged fields too" }));
    expect(screen.getByRole("row", { name: /hostname/ })).toBeTruthy();
  });
});
