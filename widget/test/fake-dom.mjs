// A minimal stand-in for the DOM calls the markdown renderer makes (createElement, createTextNode,
// setAttribute, appendChild, textContent), recording what it builds so tests can check every element and
// attribute the renderer produced. Node has no DOM, and the real engines are covered by the browser tests.
class FakeText {
  constructor(text) {
    this.text = text;
  }
}

class FakeElement {
  constructor(doc, tag) {
    this.ownerDocument = doc;
    this.tagName = tag.toLowerCase();
    this.attributes = new Map();
    this.children = [];
  }
  get firstChild() {
    return this.children[0] ?? null;
  }
  removeChild(child) {
    this.children.splice(this.children.indexOf(child), 1);
    return child;
  }
  appendChild(child) {
    this.children.push(child);
    return child;
  }
  setAttribute(name, value) {
    this.attributes.set(name, String(value));
  }
  set textContent(value) {
    this.children = [new FakeText(String(value))];
  }
}

export class FakeDocument {
  createElement(tag) {
    return new FakeElement(this, tag);
  }
  createTextNode(text) {
    return new FakeText(text);
  }
}

export function container() {
  return new FakeDocument().createElement("div");
}

const escape = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** Serialise like innerHTML would, so expectations read as HTML. */
export function html(node) {
  if (node instanceof FakeText) return escape(node.text);
  const attrs = [...node.attributes].map(([k, v]) => ` ${k}="${escape(v)}"`).join("");
  const inner = node.children.map(html).join("");
  return node.tagName === "br" ? "<br>" : `<${node.tagName}${attrs}>${inner}</${node.tagName}>`;
}

/** Every element below `node` (not `node` itself). */
export function* elements(node) {
  for (const child of node.children ?? []) {
    if (child instanceof FakeElement) {
      yield child;
      yield* elements(child);
    }
  }
}

/** All text below `node`, concatenated. */
export function text(node) {
  if (node instanceof FakeText) return node.text;
  return node.children.map(text).join("");
}
