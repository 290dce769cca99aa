// The frame of a story file: its own stack and browser, started before its tests and
// taken down after them, pass or fail.
import { afterAll, beforeAll } from "vitest";
import type { Browser } from "playwright-core";
import { launchBrowser, Session } from "./browser";
import { Stack } from "./stack";

export interface StoryWorld {
  readonly stack: Stack;
  readonly browser: Browser;
  /** A fresh browser session (no cookies, no storage) for `who` in this story. */
  session(who?: string): Promise<Session>;
  /**
   * Runs `steps` in a fresh session of `who`: a screenshot of the screen when they fail,
   * the session closed afterwards either way.
   */
  as(who: string, steps: (session: Session) => Promise<void>): Promise<void>;
}

/** A story's stack and browser; `https` gives its proxy a TLS listener too. */
export function story(name: string, { https = false } = {}): StoryWorld {
  let stack: Stack | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    Session.resetArtifacts(name);
    stack = await Stack.start(name, { https });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    try {
      await browser?.close();
    } finally {
      await stack?.stop();
    }
  });
  const world: StoryWorld = {
    get stack() {
      if (!stack) throw new Error("the stack did not start");
      return stack;
    },
    get browser() {
      if (!browser) throw new Error("the browser did not start");
      return browser;
    },
    session: (who = "admin") => Session.open(world.browser, world.stack.url, name, who),
    as: async (who, steps) => {
      const session = await world.session(who);
      try {
        await steps(session);
      } catch (e) {
        await session.failed();
        throw e;
      } finally {
        await session.close();
      }
    },
  };
  return world;
}
