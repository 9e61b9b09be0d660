/**
 * A safe renderer for the markdown subset the assistant writes.
 *
 * Answers quote task titles and descriptions written by other people, so they must never become markup: a
 * title such as `<img src=x onerror=...>` has to show as those characters. Instead of rendering HTML and
 * sanitising it afterwards (marked + DOMPurify would take most of the 30 KB budget), this parses the subset
 * into a tiny tree and builds DOM nodes with `createElement` and text nodes only. Raw HTML is therefore
 * always text; the only attribute that carries input is a link's `href`, and it is allowed only for
 * http(s) URLs and paths on the same site (never scheme-relative `//host` or its backslash spellings).
 *
 * Supported: paragraphs (single newlines become line breaks), `#` headings (shown bold), `-`/`*`/`+` and
 * `1.` lists, fenced code blocks, `**bold**`, `*italic*`/`_italic_`, `` `code` ``, `[text](url)`, backslash
 * escapes and character references (`&lt;`, `&#60;`). Everything else is text.
 */

export type Inline =
  | { t: "text"; v: string }
  | { t: "br" }
  | { t: "code"; v: string }
  | { t: "strong" | "em"; c: Inline[] }
  | { t: "link"; href: string; c: Inline[] };

export type Block =
  | { t: "p" | "h"; c: Inline[] }
  | { t: "ul" | "ol"; items: Inline[][] }
  | { t: "pre"; v: string };

const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const ORDERED = /^\s{0,3}\d{1,9}[.)]\s+(.*)$/;
const HEADING = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/;
const FENCE = /^\s{0,3}(```|~~~)/;
const ESCAPABLE = "\\`*_[]()#+-.!<>~";

/**
 * The URL a link may point to, or null. Browsers drop ASCII whitespace and controls inside a URL
 * (`java\tscript:` is `javascript:`), so they are removed before the scheme is read.
 */
export function safeHref(raw: string): string | null {
  // eslint-disable-next-line no-control-regex
  const url = raw.replace(/[\u0000-\u0020\u007f-\u009f]/g, "");
  if (url === "") return null;
  // WHATWG URL parsing reads a backslash as a slash in http(s) URLs, so `/\evil.example` and `\\evil` are
  // the scheme-relative `//evil.example`: another host. No link the assistant writes needs a backslash.
  if (url.includes("\\")) return null;
  if (/^https?:\/\//i.test(url)) return url;
  // Any other scheme (javascript:, data:, vbscript:, file:, ...) is refused.
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) return null;
  // `//host/path` is relative to the scheme only: it leaves the site.
  if (url.startsWith("//")) return null;
  return url;
}

const NAMED_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };
const ENTITY = /^&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z][a-zA-Z0-9]{1,31}));/;

/**
 * Decode the HTML character reference at the start of `text`, as markdown does in text and link
 * destinations (writers escape `<` as `&lt;`). The result only ever becomes a text node or an href that
 * safeHref judges after decoding, so decoding cannot create markup.
 */
function entityAt(text: string): { value: string; length: number } | null {
  const m = ENTITY.exec(text);
  if (!m) return null;
  if (m[3] !== undefined) {
    const named = NAMED_ENTITIES[m[3]];
    return named === undefined ? null : { value: named, length: m[0].length };
  }
  const code = m[1] !== undefined ? parseInt(m[1], 10) : parseInt(m[2] ?? "0", 16);
  const valid = code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff);
  return { value: valid ? String.fromCodePoint(code) : "\ufffd", length: m[0].length };
}

/** Decode every character reference in `text`. */
export function decodeEntities(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; ) {
    const entity = text[i] === "&" ? entityAt(text.slice(i)) : null;
    if (entity) {
      out += entity.value;
      i += entity.length;
    } else {
      out += text[i];
      i++;
    }
  }
  return out;
}

/** Parse markdown into blocks. Pure, so it is tested without a DOM. */
export function parseMarkdown(source: string): Block[] {
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  const blocks: Block[] = [];
  let para: string[] = [];
  let list: { t: "ul" | "ol"; items: string[] } | null = null;

  const flush = (): void => {
    if (para.length) blocks.push({ t: "p", c: parseInline(para.join("\n")) });
    if (list) blocks.push({ t: list.t, items: list.items.map((item) => parseInline(item)) });
    para = [];
    list = null;
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (line.trim() === "") {
      flush();
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      flush();
      const body: string[] = [];
      for (i++; i < lines.length && !(lines[i] ?? "").trimStart().startsWith(fence[1] ?? "```"); i++) {
        body.push(lines[i] ?? "");
      }
      blocks.push({ t: "pre", v: body.join("\n") });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      flush();
      blocks.push({ t: "h", c: parseInline(heading[1] ?? "") });
      continue;
    }
    const bullet = BULLET.exec(line);
    const ordered = bullet ? null : ORDERED.exec(line);
    const item = bullet ?? ordered;
    if (item) {
      const kind = bullet ? "ul" : "ol";
      if (para.length || (list && list.t !== kind)) flush();
      if (!list) list = { t: kind, items: [] };
      list.items.push(item[1] ?? "");
      continue;
    }
    if (list && /^\s/.test(line)) {
      // An indented line continues the current item.
      const last = list.items.length - 1;
      list.items[last] = `${list.items[last] ?? ""} ${line.trim()}`;
      continue;
    }
    if (list) flush();
    para.push(line);
  }
  flush();
  return blocks;
}

const isWordChar = (ch: string | undefined): boolean => ch !== undefined && /[\p{L}\p{N}]/u.test(ch);

/** Parse inline markdown. Unmatched markers stay as text. */
export function parseInline(text: string, inLink = false): Inline[] {
  const out: Inline[] = [];
  let plain = "";
  const pushText = (): void => {
    if (plain) out.push({ t: "text", v: plain });
    plain = "";
  };

  let i = 0;
  while (i < text.length) {
    const ch = text[i] ?? "";
    const next = text[i + 1];

    if (ch === "&") {
      const entity = entityAt(text.slice(i, i + 40));
      if (entity) {
        plain += entity.value;
        i += entity.length;
        continue;
      }
    }
    if (ch === "\\" && next !== undefined && ESCAPABLE.includes(next)) {
      plain += next;
      i += 2;
      continue;
    }
    if (ch === "\n") {
      pushText();
      out.push({ t: "br" });
      i++;
      continue;
    }
    if (ch === "`") {
      const end = text.indexOf("`", i + 1);
      if (end > i + 1) {
        pushText();
        out.push({ t: "code", v: text.slice(i + 1, end) });
        i = end + 1;
        continue;
      }
    }
    if ((ch === "*" || ch === "_") && next === ch) {
      const marker = ch + ch;
      const end = text.indexOf(marker, i + 2);
      if (end > i + 2 && text[i + 2] !== " ") {
        pushText();
        out.push({ t: "strong", c: parseInline(text.slice(i + 2, end), inLink) });
        i = end + 2;
        continue;
      }
    }
    if ((ch === "*" || ch === "_") && next !== undefined && next !== " " && next !== ch) {
      // `_` inside a word (snake_case) is not emphasis.
      if (ch === "*" || !isWordChar(text[i - 1])) {
        let end = text.indexOf(ch, i + 1);
        while (end > 0 && ch === "_" && isWordChar(text[end + 1])) end = text.indexOf(ch, end + 1);
        if (end > i + 1 && text[end - 1] !== " ") {
          pushText();
          out.push({ t: "em", c: parseInline(text.slice(i + 1, end), inLink) });
          i = end + 1;
          continue;
        }
      }
    }
    if (ch === "[" && !inLink) {
      const link = matchLink(text, i);
      if (link) {
        pushText();
        const label = parseInline(link.label, true);
        const href = safeHref(decodeEntities(link.url));
        if (href === null) out.push(...label);
        else out.push({ t: "link", href, c: label });
        i = link.end;
        continue;
      }
    }
    plain += ch;
    i++;
  }
  pushText();
  return out;
}

/** Find `[label](url)` starting at `start`, allowing one level of brackets and parentheses inside. */
function matchLink(text: string, start: number): { label: string; url: string; end: number } | null {
  let depth = 0;
  let i = start;
  for (; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === "[") depth++;
    else if (text[i] === "]" && --depth === 0) break;
  }
  if (i >= text.length || text[i + 1] !== "(") return null;
  const labelEnd = i;
  depth = 0;
  for (i = labelEnd + 1; i < text.length; i++) {
    if (text[i] === "(") depth++;
    else if (text[i] === ")" && --depth === 0) break;
    else if (text[i] === "\n") return null;
  }
  if (i >= text.length) return null;
  let url = text.slice(labelEnd + 2, i).trim();
  // An optional quoted title (`[a](url "title")`) is dropped; other whitespace stays for safeHref to judge.
  const titled = /^(\S+)\s+(".*"|'.*')$/s.exec(url);
  if (titled) url = titled[1] ?? "";
  if (url.startsWith("<") && url.endsWith(">")) url = url.slice(1, -1);
  return { label: text.slice(start + 1, labelEnd), url, end: i + 1 };
}

function appendInline(doc: Document, parent: Node, nodes: Inline[]): void {
  for (const node of nodes) {
    switch (node.t) {
      case "text":
        parent.appendChild(doc.createTextNode(node.v));
        break;
      case "br":
        parent.appendChild(doc.createElement("br"));
        break;
      case "code": {
        const el = doc.createElement("code");
        el.textContent = node.v;
        parent.appendChild(el);
        break;
      }
      case "strong":
      case "em": {
        const el = doc.createElement(node.t);
        appendInline(doc, el, node.c);
        parent.appendChild(el);
        break;
      }
      case "link": {
        const el = doc.createElement("a");
        el.setAttribute("href", node.href);
        if (/^https?:/i.test(node.href)) {
          el.setAttribute("target", "_blank");
          el.setAttribute("rel", "noopener noreferrer");
        }
        appendInline(doc, el, node.c);
        parent.appendChild(el);
        break;
      }
    }
  }
}

/** Build the DOM for `source` and append it to `target`, replacing what was there. */
export function renderMarkdown(target: Element, source: string): void {
  const doc = target.ownerDocument;
  while (target.firstChild) target.removeChild(target.firstChild);
  for (const block of parseMarkdown(source)) {
    let el: HTMLElement;
    switch (block.t) {
      case "p":
      case "h": {
        el = doc.createElement("p");
        const inner = block.t === "h" ? el.appendChild(doc.createElement("strong")) : el;
        appendInline(doc, inner, block.c);
        break;
      }
      case "pre": {
        el = doc.createElement("pre");
        const code = el.appendChild(doc.createElement("code"));
        code.textContent = block.v;
        break;
      }
      default:
        el = doc.createElement(block.t);
        for (const item of block.items) appendInline(doc, el.appendChild(doc.createElement("li")), item);
    }
    target.appendChild(el);
  }
}
