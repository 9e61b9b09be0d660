import { test } from "node:test";
import assert from "node:assert/strict";
import { renderMarkdown, safeHref, parseMarkdown } from "../dist/test-lib/markdown.js";
import { container, elements, html, text } from "./fake-dom.mjs";

const render = (md) => {
  const root = container();
  renderMarkdown(root, md);
  return root;
};
const ALLOWED_TAGS = new Set(["p", "strong", "em", "code", "a", "ul", "ol", "li", "br", "pre"]);
const ALLOWED_ATTRS = new Set(["href", "target", "rel"]);

/** The invariant: only allowlisted elements and attributes, and every href is http(s) or relative. */
function assertSafe(root) {
  for (const el of elements(root)) {
    assert.ok(ALLOWED_TAGS.has(el.tagName), `unexpected <${el.tagName}>`);
    for (const [name, value] of el.attributes) {
      assert.ok(ALLOWED_ATTRS.has(name), `unexpected attribute ${name}`);
      if (name === "href") {
        assert.ok(!/^[a-z][a-z0-9+.-]*:/i.test(value) || /^https?:/i.test(value), `unsafe href ${value}`);
        assert.ok(!value.startsWith("//") && !value.includes("\\"), `href leaves the site ${value}`);
      }
    }
  }
}

test("paragraphs, bold, italics, inline code and line breaks", () => {
  assert.equal(
    html(render("**T-101** is *late*\nsee `x_y`\n\nNext _para_ with snake_case_name")),
    "<div><p><strong>T-101</strong> is <em>late</em><br>see <code>x_y</code></p>" +
      "<p>Next <em>para</em> with snake_case_name</p></div>",
  );
});

test("bullet and numbered lists, with continuation lines", () => {
  assert.equal(
    html(render("Due:\n- **T-1** today\n  (high)\n* T-2\n\n1. first\n2. second")),
    "<div><p>Due:</p><ul><li><strong>T-1</strong> today (high)</li><li>T-2</li></ul>" +
      "<ol><li>first</li><li>second</li></ol></div>",
  );
});

test("headings are shown bold and fenced code is kept verbatim", () => {
  assert.equal(html(render("## Summary\n```\n<b>x</b>\n```")), "<div><p><strong>Summary</strong></p><pre><code>&lt;b&gt;x&lt;/b&gt;</code></pre></div>");
});

test("http(s) and relative links are links; absolute ones open in a new tab without opener", () => {
  assert.equal(
    html(render("[T-101](/tasks/T-101) and [docs](https://example.com/a_(b))")),
    '<div><p><a href="/tasks/T-101">T-101</a> and ' +
      '<a href="https://example.com/a_(b)" target="_blank" rel="noopener noreferrer">docs</a></p></div>',
  );
});

test("raw HTML in an answer is text, never an element", () => {
  const root = render('<img src=x onerror=alert(1)> XSS check <script>alert(2)</script> <a href="javascript:alert(3)">x</a>');
  assertSafe(root);
  assert.equal([...elements(root)].map((e) => e.tagName).join(","), "p");
  assert.equal(text(root), '<img src=x onerror=alert(1)> XSS check <script>alert(2)</script> <a href="javascript:alert(3)">x</a>');
});

test("javascript:, data: and other schemes never become links, however they are disguised", () => {
  const attacks = [
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click]( javascript:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](java\u0000script:alert(1))",
    "[click](<javascript:alert(1)>)",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html,<script>alert(1)</script>)",
    "[click](file:///etc/passwd)",
    "[**bold**](javascript:alert(1))",
    "[a [nested](javascript:x)](javascript:alert(1))",
  ];
  for (const md of attacks) {
    const root = render(md);
    assertSafe(root);
    assert.equal([...elements(root)].filter((e) => e.tagName === "a").length, 0, md);
  }
});

test("safeHref allows only http(s) and relative URLs", () => {
  assert.equal(safeHref("https://x.test/a"), "https://x.test/a");
  assert.equal(safeHref("HTTP://x.test"), "HTTP://x.test");
  assert.equal(safeHref("/tasks/T-1"), "/tasks/T-1");
  assert.equal(safeHref("../up#frag"), "../up#frag");
  assert.equal(safeHref("?q=1"), "?q=1");
  assert.equal(safeHref("javascript:alert(1)"), null);
  assert.equal(safeHref("\u0001javascript:alert(1)"), null);
  assert.equal(safeHref("mailto:a@b.c"), null);
  assert.equal(safeHref("   "), null);
});

test("safeHref refuses links that leave the site without a scheme", () => {
  for (const href of ["//evil.example", "/\\evil.example", "\\\\evil.example", "\\/evil.example", " //evil.example",
                      "/\t/evil.example", "https://ok.test/\\..\\x", "data:text/html,x", "JaVaScRiPt:alert(1)"]) {
    assert.equal(safeHref(href), null, href);
  }
  assert.equal(safeHref("/tasks/T-1?x=//y"), "/tasks/T-1?x=//y");
});

test("entity-encoded scheme-relative and javascript links render as text, not links", () => {
  for (const md of ["[x](&#47;&#47;evil.example)", "[x](&#x2F;&#x5C;evil.example)", "[x](javascript&#58;alert(1))",
                    "[x](&#106;avascript:alert(1))"]) {
    const root = render(md);
    assert.equal([...elements(root)].filter((el) => el.tagName === "a").length, 0, md);
  }
});

test("unmatched markers stay as text", () => {
  assert.equal(html(render("2 * 3 = 6, a ** b, `open, [x](y")), "<div><p>2 * 3 = 6, a ** b, `open, [x](y</p></div>");
});

test("backslash escapes show the character itself", () => {
  assert.equal(html(render("\\*not italic\\* \\[x\\](y)")), "<div><p>*not italic* [x](y)</p></div>");
});

test("rendering replaces earlier content, as each streamed delta re-renders the answer", () => {
  const root = container();
  renderMarkdown(root, "**par");
  renderMarkdown(root, "**partial** answer");
  assert.equal(html(root), "<div><p><strong>partial</strong> answer</p></div>");
});

test("random input never yields an unsafe element or attribute", () => {
  const pieces = ["<img src=x onerror=alert(1)>", "&lt;", "&#106;", "&#x3a;", "&amp;", "[", "]", "(", ")", "javascript:", "http://a", "*", "**", "_", "`", "\n", "\n\n", "- ", "1. ", "# ", "\\", "<", ">", "\"", "'", "a", " ", "```"];
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let n = 0; n < 2000; n++) {
    let md = "";
    for (let k = 0; k < 30; k++) md += pieces[Math.floor(rnd() * pieces.length)];
    const root = render(md);
    assertSafe(root);
    // The parser never throws and never loses the img text.
    if (md.includes("<img")) assert.ok(text(root).includes("<img") || md.includes("`"), md);
  }
  assert.ok(parseMarkdown("").length === 0);
});

test("a quoted link title is dropped", () => {
  assert.equal(html(render('[a](/x "the title")')), '<div><p><a href="/x">a</a></p></div>');
});

test("character references are decoded into text, never into markup", () => {
  const root = render("**&lt;img src=x onerror=alert(1)&gt; XSS check** &amp; &#60;b&#x3E; &unknown; &#0;");
  assertSafe(root);
  assert.deepEqual([...elements(root)].map((e) => e.tagName), ["p", "strong"]);
  assert.equal(text(root), "<img src=x onerror=alert(1)> XSS check & <b> &unknown; \ufffd");
});

test("code spans keep character references literally", () => {
  assert.equal(html(render("`&lt;b&gt;`")), "<div><p><code>&amp;lt;b&amp;gt;</code></p></div>");
});

test("an encoded javascript: scheme in a link is decoded first, then refused", () => {
  for (const md of ["[x](javascript&#58;alert(1))", "[x](javascript&#x3a;alert(1))", "[x](&#106;avascript:alert(1))"]) {
    const root = render(md);
    assertSafe(root);
    assert.equal([...elements(root)].filter((e) => e.tagName === "a").length, 0, md);
  }
  assert.equal(html(render("[q](/search?a=1&amp;b=2)")), '<div><p><a href="/search?a=1&amp;b=2">q</a></p></div>');
});
