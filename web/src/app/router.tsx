// Routes: every page is its own lazily loaded chunk, so the first load carries only
// the shell (layout, auth, API client).
import { createBrowserRouter, type RouteObject } from "react-router";
import { AppLayout } from "./layout/AppLayout";
import { RequireAdmin, RequireAuth } from "./routes/guards";
import { RouteError } from "./routes/RouteError";
import { Loading } from "@/components/ui/States";

export const routes: RouteObject[] = [
  {
    // Shown while the first page's chunk loads.
    hydrateFallbackElement: <Loading what="Loading the panel" />,
    children: [
  {
    path: "/login",
    lazy: async () => ({ Component: (await import("@/features/auth/components/LoginPage")).LoginPage }),
  },
  {
    element: <RequireAuth />,
    errorElement: <RouteError />,
    children: [
      {
        element: <AppLayout />,
        children: [
          {
            errorElement: <RouteError />,
            children: [
              { index: true, lazy: async () => ({ Component: (await import("@/features/overview/components/OverviewPage")).OverviewPage }) },
              { path: "zones", lazy: async () => ({ Component: (await import("@/features/zones/components/ZonesPage")).ZonesPage }) },
              { path: "zones/bulk", lazy: async () => ({ Component: (await import("@/features/zones/components/BulkZonesPage")).BulkZonesPage }) },
              { path: "zones/new", lazy: async () => ({ Component: (await import("@/features/zones/components/ZoneEditorPage")).ZoneEditorPage }) },
              { path: "zones/:id", lazy: async () => ({ Component: (await import("@/features/zones/components/ZoneEditorPage")).ZoneEditorPage }) },
              { path: "domains", lazy: async () => ({ Component: (await import("@/features/domains/components/DomainsPage")).DomainsPage }) },
              { path: "named-backends", lazy: async () => ({ Component: (await import("@/features/named-backends/components/NamedBackendsPage")).NamedBackendsPage }) },
              { path: "named-backends/:id", lazy: async () => ({ Component: (await import("@/features/named-backends/components/NamedBackendPage")).NamedBackendPage }) },
              { path: "api-keys", lazy: async () => ({ Component: (await import("@/features/api-keys/components/ApiKeysPage")).ApiKeysPage }) },
              { path: "audit", lazy: async () => ({ Component: (await import("@/features/audit/components/AuditPage")).AuditPage }) },
              { path: "account/password", lazy: async () => ({ Component: (await import("@/features/auth/components/ChangePasswordPage")).ChangePasswordPage }) },
              { path: "transfer", lazy: async () => ({ Component: (await import("@/features/transfer/components/TransferPage")).TransferPage }) },
              {
                element: <RequireAdmin />,
                children: [
                  { path: "dns-credentials", lazy: async () => ({ Component: (await import("@/features/dns-credentials/components/CredentialsPage")).CredentialsPage }) },
                  { path: "users", lazy: async () => ({ Component: (await import("@/features/users/components/UsersPage")).UsersPage }) },
                  { path: "history", lazy: async () => ({ Component: (await import("@/features/history/components/HistoryPage")).HistoryPage }) },
                  { path: "users/:id", lazy: async () => ({ Component: (await import("@/features/users/components/UserPage")).UserPage }) },
                ],
              },
              { path: "*", lazy: async () => ({ Component: (await import("./routes/NotFound")).NotFound }) },
            ],
          },
        ],
      },
    ],
  },
    ],
  },
];

export const router = createBrowserRouter(routes);
