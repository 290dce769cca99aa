import { useState } from "react";
import { Button } from "./ui/Button";
import { cn } from "./ui/cn";

/** Copies `text` to the clipboard and says whether it worked (announced politely). */
export function CopyButton({ text, what, className }: { text: string; what: string; className?: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  const copy = () => {
    const clipboard = typeof navigator === "undefined" ? undefined : (navigator.clipboard as Clipboard | undefined);
    if (!clipboard) {
      setState("failed");
      return;
    }
    clipboard.writeText(text).then(
      () => {
        setState("copied");
      },
      () => {
        setState("failed");
      },
    );
  };
  return (
    <span className={cn("relative", className)}>
      <Button variant="secondary" aria-label={`Copy ${what}`} onClick={copy}>
        {state === "copied" ? "Copied" : "Copy"}
      </Button>
      <span aria-live="polite" className="sr-only">
        {state === "copied" ? `${what} copied` : state === "failed" ? `Could not copy ${what}: select it and copy by hand` : ""}
      </span>
      {state === "failed" && <span className="ml-2 text-xs text-red-700 dark:text-red-400">Copy failed: select it and copy by hand</span>}
    </span>
  );
}
