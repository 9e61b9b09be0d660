/**
 * The bundle's entry point: defines `<assist-chat>` once (a host page that loads the script twice keeps
 * working) and exports the safe markdown renderer, which the browser tests exercise in each real engine.
 */

import { AssistChat } from "./element";

if (!customElements.get("assist-chat")) customElements.define("assist-chat", AssistChat);

export { AssistChat };
export { renderMarkdown, safeHref } from "./markdown";
