/** The panel's sections, in nav order; `admin` ones are hidden from users. */
export interface NavItem {
  to: string;
  label: string;
  admin?: boolean;
}

export const NAV_ITEMS: NavItem[] = [
  { to: "/", label: "Overview" },
  { to: "/zones", label: "Zones" },
  { to: "/domains", label: "Domains" },
  { to: "/named-backends", label: "Named backends" },
  { to: "/dns-credentials", label: "DNS credentials", admin: true },
  { to: "/users", label: "Users", admin: true },
  { to: "/api-keys", label: "API keys" },
  { to: "/audit", label: "Audit" },
  { to: "/history", label: "History", admin: true },
  { to: "/transfer", label: "Export/Import" },
];

export function visibleNav(isAdmin: boolean): NavItem[] {
  return NAV_ITEMS.filter((item) => isAdmin || !item.admin);
}
