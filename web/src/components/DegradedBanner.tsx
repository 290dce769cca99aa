// On every page: PostgreSQL down (reads from Redis, writes off, since when), or the API
// not answering at all. Clears by itself when the polled health recovers.
import { useHealth, usePostgresDown } from "@/lib/health";
import { formatAge } from "@/lib/format";
import { errorMessage } from "@/lib/api/errors";
import { Banner } from "./ui/Banner";
import { useEffect, useState } from "react";

function useNow(everyMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = window.setInterval(() => {
      setNow(Date.now());
    }, everyMs);
    return () => {
      window.clearInterval(t);
    };
  }, [everyMs]);
  return now;
}

function sinceText(now: number, since: number): string {
  const secs = (now - since) / 1000;
  return secs < 60 ? "less than a minute ago" : `${formatAge(secs)} ago`;
}

export function DegradedBanner() {
  const { data, error, isError } = useHealth();
  const { down, since } = usePostgresDown();
  const now = useNow(10_000);
  if (isError && data === undefined) {
    return (
      <Banner tone="error" title="The panel API does not answer" live>
        {errorMessage(error)}. Changes cannot be saved; this page keeps checking.
      </Banner>
    );
  }
  if (!down) return null;
  return (
    <Banner tone="warning" title="PostgreSQL is down — the panel is read-only" live>
      <p>
        {since !== null ? (
          <>
            Since {new Date(since).toLocaleTimeString()} ({sinceText(now, since)}, when the panel API first saw it fail).{" "}
          </>
        ) : null}
        Lists and reads come from Redis (what the proxies serve); every change is disabled until PostgreSQL answers again. Routing is not affected.
      </p>
    </Banner>
  );
}
