import { isRouteErrorResponse, useRouteError } from "react-router";
import { ErrorState } from "@/components/ui/States";

/** A page that failed to render or to load its code (e.g. after a deploy). */
export function RouteError() {
  const error = useRouteError();
  const shown = isRouteErrorResponse(error) ? new Error(`${error.status} ${error.statusText}`) : error;
  return (
    <div className="p-4">
      <ErrorState error={shown} title="This page failed" retry={() => { window.location.reload(); }} />
    </div>
  );
}
