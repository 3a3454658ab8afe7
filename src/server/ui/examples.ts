// Example contexts cut for the feature list: the list shows ±LIST_CONTEXT tokens around the firing
// token (dashboardView.ts), and a static site stores its lists already cut the same way.

import type { ExampleJson } from '../../io/dashboardDb.js';

/** Tokens on each side of the firing token in a feature list's "strongest example". */
export const LIST_CONTEXT = 4;

/** An example cut to ±w tokens around its firing token. */
export function trimExample(e: ExampleJson, w: number): ExampleJson {
  const lo = Math.max(0, e.at - w);
  return { ...e, at: e.at - lo, tokens: e.tokens.slice(lo, e.at + w + 1), acts: e.acts.slice(lo, e.at + w + 1) };
}
