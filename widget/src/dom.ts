/**
 * A small element builder. Children that are strings become text nodes, never markup, so nothing the
 * widget shows (task titles, user messages, error text) can inject HTML.
 */

export type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === true) el.setAttribute(name, "");
    else if (typeof value === "string") el.setAttribute(name, value);
  }
  for (const child of children) {
    if (child) el.append(child);
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** An inline icon from one path, hidden from assistive technology (its button carries the label). */
export function icon(path: string, transform = ""): SVGSVGElement {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const p = document.createElementNS(SVG_NS, "path");
  p.setAttribute("d", path);
  p.setAttribute("fill", "currentColor");
  if (transform) p.setAttribute("transform", transform);
  svg.append(p);
  return svg;
}

export const ICONS = {
  chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z",
  close: "M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6 10.6 12 5 6.4z",
  send: "M3 20.5 21 12 3 3.5 3 10l12 2-12 2z",
  thumb: "M2 21h4V9H2zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6v-.3a1.5 1.5 0 0 0-.4-1L13.2 1 6.6 7.6A2 2 0 0 0 6 9v10a2 2 0 0 0 2 2h9a2 2 0 0 0 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7z",
  end: "M5 4h9l1 2h5v9h-7l-1-2H7v8H5z",
  past: "M13 3a9 9 0 1 0 8.5 12h-2.1A7 7 0 1 1 13 5a7 7 0 0 1 5 2.1L15 10h7V3l-2.5 2.5A9 9 0 0 0 13 3zm-1 5v5.4l4.3 2.6.8-1.3-3.6-2.2V8z",
};

/** The elements of `root` that Tab can reach, in order. */
export function focusables(root: ParentNode): HTMLElement[] {
  return Array.from(
    root.querySelectorAll<HTMLElement>("button:not([disabled]),textarea:not([disabled]),a[href],[tabindex='0']"),
  ).filter((el) => el.offsetParent !== null || el.getClientRects().length > 0);
}
