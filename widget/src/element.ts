/**
 * `<assist-chat>`: the launcher, the panel and one conversation with the assistant.
 *
 * Attributes: `edge-url` (default: same origin), `locale` (`pt-BR` | `en`, default: the browser's),
 * `theme` (`light` | `dark`), `task-id` and `task-title` (contextual mode on a task page), `token-url`
 * or `token` for auth, and `study` (study mode for internal testers: the usability study's tasks and
 * questionnaire above the conversation, see views/study.ts; testers in the `study-mode` flag's cohort get
 * it without the attribute, from the edge's widget config, and the element then carries `data-study`). The element fires `assist-chat:open`, `assist-chat:close`, `assist-chat:delta`,
 * `assist-chat:answer`, `assist-chat:error` and `assist-chat:ended` events so a host page (and the browser
 * tests) can follow it.
 *
 * Before drawing its launcher the element asks the edge whether the assistant is enabled for the signed-in
 * user (the gradual rollout, `availability.ts`); until the answer is yes nothing is shown, and the host
 * element carries `data-enabled="true"` or `"false"` once it knows (and fires `assist-chat:unavailable`).
 *
 * The element only wires things together: the conversation's behaviour is `Conversation` (DOM-free, tested
 * in node), and what is shown is drawn by the views in `views/`.
 */

import { EdgeApi } from "./api";
import { TokenSource } from "./auth";
import { availability } from "./availability";
import { Conversation, type ConversationView, type Phase } from "./conversation";
import { h } from "./dom";
import { languageHint, resolveLocale, strings } from "./i18n";
import { conversationKey, loadConversationId, newClientMessageId, saveConversationId } from "./store";
import { STYLES } from "./styles";
import { Composer, quickActions } from "./views/composer";
import { PastConversations } from "./past";
import { MessageLog } from "./views/messages";
import { Panel } from "./views/panel";
import { PastList } from "./views/past";
import { satisfactionForm } from "./views/survey";
import { studyModeOn } from "./study/content";
import { StudyRecorder } from "./study/recorder";
import { STUDY_STYLES, StudyPanel } from "./views/study";

/** Everything built for one set of attributes; replaced whole when they change. */
interface Parts {
  conversation: Conversation;
  panel: Panel;
  composer: Composer;
  /** Set once the edge said the assistant is enabled and the launcher was drawn. */
  shown: boolean;
  /** The usability study's panel: from the `study` attribute at build, or added when the edge says so. */
  study: StudyPanel | null;
  newStudy: () => StudyPanel;
}

export class AssistChat extends HTMLElement {
  static observedAttributes = ["locale", "theme", "task-id", "task-title", "edge-url", "token", "token-url", "study"];

  private readonly root: ShadowRoot;
  private parts: Parts | null = null;

  constructor() {
    super();
    this.root = this.attachShadow({ mode: "open" });
    this.root.addEventListener("keydown", (e) => this.onKey(e as KeyboardEvent));
  }

  connectedCallback(): void {
    if (!this.parts) this.parts = this.build();
  }

  /** Draw the launcher and panel if the edge says the assistant is enabled for this user. */
  private async reveal(parts: Parts, api: EdgeApi): Promise<void> {
    const answer = await availability(api);
    if (this.parts !== parts) return; // rebuilt meanwhile: the new parts ask for themselves
    this.setAttribute("data-enabled", String(answer.state === "enabled"));
    if (answer.state !== "enabled") {
      this.emit("unavailable");
      return;
    }
    if (answer.study && !parts.study) {
      // A tester of the study cohort (the `study-mode` flag): the panel goes where the attribute puts it,
      // first under the header.
      parts.study = parts.newStudy();
      parts.panel.panel.querySelector(".head")?.after(parts.study.section);
    }
    if (parts.study) this.setAttribute("data-study", "");
    parts.shown = true;
    this.root.append(parts.panel.launcher, parts.panel.panel);
  }

  attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    if (!this.parts || old === value) return;
    if (name === "theme") return;
    // Anything else changes what the widget is about or whom it talks to: start over.
    const open = this.parts.panel.isOpen;
    this.root.replaceChildren();
    this.removeAttribute("data-enabled");
    this.removeAttribute("data-study");
    this.parts = this.build(open);
  }

  private get taskId(): string {
    return (this.getAttribute("task-id") ?? "").trim();
  }

  private build(reopen = false): Parts {
    const locale = resolveLocale(this.getAttribute("locale"), navigator.language);
    const s = strings(locale);
    const taskId = this.taskId;
    const edgeBase = (this.getAttribute("edge-url") ?? "").replace(/\/+$/, "");
    const tokens = new TokenSource(this.getAttribute("token-url"), this.getAttribute("token"));
    const api = new EdgeApi(edgeBase, tokens);

    const messages = new MessageLog(s, taskId !== "", (messageId) => (rating, comment) =>
      conversation.rate(messageId, rating, comment),
    );
    const composer = new Composer(s, (text) => {
      if (conversation.busy) return false;
      void conversation.send(text);
      return true;
    });
    const survey = h("div", { id: "satisfaction", hidden: true });
    // The past conversations replace the conversation view while they are shown.
    const pastList = new PastList(s, {
      pick: (id) => {
        showPast(false);
        void conversation.openPast(id).then(() => messages.scrollToEnd());
      },
      more: () => void past.more(),
    });
    const showPast = (open: boolean): void => {
      pastList.open = open;
      messages.log.hidden = open;
      composer.form.hidden = open || !survey.hidden;
      if (quick) quick.hidden = open;
      panel.pastShown(open);
      if (open) {
        void past.open().then(() => pastList.first.focus());
      } else {
        past.close();
        composer.input.focus();
      }
    };
    const quick = taskId ? quickActions(s, (question) => void conversation.send(question)) : null;
    const newStudy = (): StudyPanel =>
      new StudyPanel(locale, new StudyRecorder((records) => api.recordStudyEvents(records), languageHint(locale), newClientMessageId));
    // The attribute is the manual override (a host page, a demo); otherwise the edge's answer decides (reveal).
    const study = studyModeOn(this.getAttribute("study")) ? newStudy() : null;
    const panel = new Panel(
      s,
      { id: taskId, title: this.getAttribute("task-title") ?? "" },
      {
        toggle: () => void (panel.isOpen ? this.close() : this.open()),
        close: () => this.close(),
        end: () => {
          if (pastList.isOpen) showPast(false);
          conversation.end();
        },
        past: () => showPast(!pastList.isOpen),
      },
      [
        study?.section,
        messages.log,
        messages.typing,
        quick,
        composer.form,
        pastList.region,
        survey,
      ],
    );

    const view: ConversationView = {
      phaseChanged: (phase: Phase) => {
        composer.sending = phase === "sending" || phase === "streaming";
        messages.busy(phase === "sending", phase === "streaming");
      },
      historyLoading: () => messages.historyLoading(),
      historyLoadingEnded: () => messages.historyLoadingEnded(),
      historyShown: (list) => messages.historyShown(list),
      historyOutcome: (outcome) => {
        this.setAttribute("data-history", outcome);
        messages.scrollToEnd();
      },
      emptyHint: () => messages.emptyHint(),
      turnStarted: (text) => messages.turnStarted(text),
      answerGrew: (answer) => messages.answerGrew(answer),
      answerDone: (messageId, text, degraded) => messages.answerDone(messageId, text, degraded),
      answerDropped: () => messages.answerDropped(),
      error: (code, retry) => messages.error(code, retry),
      surveyShown: () => {
        const { form, first } = satisfactionForm(s, {
          submit: (score, comment) => conversation.submitSatisfaction(score, comment),
          skip: () => void conversation.skipSatisfaction(),
        });
        survey.replaceChildren(form);
        survey.hidden = false;
        composer.hidden = true;
        first?.focus();
      },
      conversationEnded: (thanked) => {
        survey.hidden = true;
        survey.replaceChildren();
        composer.hidden = false;
        messages.cleared(thanked);
        composer.input.focus();
      },
      notify: (event) => this.emit(event.name, event.detail),
    };
    const conversation = new Conversation({
      api,
      view,
      memory: {
        key: async () => {
          await tokens.get();
          return conversationKey(edgeBase, tokens.userId ?? "", taskId);
        },
        load: loadConversationId,
        save: saveConversationId,
      },
      pageContext: () => ({ taskId, pageUrl: location.href }),
      language: languageHint(locale),
      newClientMessageId,
    });

    const past = new PastConversations({
      api,
      view: pastList,
      currentId: () => conversation.id,
      locale,
      untitled: s.pastUntitled,
    });

    adoptStyles(this.root); // the launcher and panel are appended once the edge says enabled (reveal)
    messages.emptyHint();
    const parts: Parts = { conversation, panel, composer, shown: false, study, newStudy };
    void this.reveal(parts, api).then(() => {
      if (reopen && parts.shown) void this.open();
    });
    return parts;
  }

  private emit(name: string, detail: unknown = null): void {
    this.dispatchEvent(new CustomEvent(`assist-chat:${name}`, { detail, bubbles: true, composed: true }));
  }

  /** Open the panel, restoring the stored conversation the first time. */
  async open(): Promise<void> {
    const parts = this.parts;
    if (!parts?.shown) return;
    parts.panel.show(true, parts.composer.input);
    this.setAttribute("data-open", "");
    this.emit("open");
    await parts.conversation.restoreIfNeeded();
  }

  /** Hide the panel (the conversation goes on) and give focus back to the launcher. */
  close(): void {
    const parts = this.parts;
    if (!parts?.panel.isOpen) return;
    parts.panel.show(false, parts.panel.launcher);
    this.removeAttribute("data-open");
    this.emit("close");
  }

  /** Run one turn, as typing `text` and pressing Enter would (ignored while another turn runs). */
  async send(text: string): Promise<void> {
    if (this.parts?.shown) await this.parts.conversation.send(text);
  }

  private onKey(e: KeyboardEvent): void {
    const parts = this.parts;
    if (!parts?.panel.isOpen) return;
    if (e.key === "Escape") {
      e.preventDefault();
      this.close();
      return;
    }
    if (e.key === "Tab") parts.panel.trapTab(e, this.root.activeElement);
  }
}

/**
 * Give the shadow root the widget's styles through a constructed stylesheet. A host page whose
 * Content-Security-Policy has `style-src 'self'` without 'unsafe-inline' blocks a `<style>` element, even
 * inside our shadow root, but not a stylesheet built through the CSSOM (CSP governs markup, not
 * `CSSStyleSheet.replaceSync`; CSP Level 3, "should element's inline type behavior be blocked"). Engines
 * without constructable stylesheets (before Safari 16.4) get the `<style>` element.
 */
function adoptStyles(root: ShadowRoot): void {
  if ("adoptedStyleSheets" in root && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLES + STUDY_STYLES);
    root.adoptedStyleSheets = [sheet];
  } else {
    (root as ShadowRoot).append(h("style", {}, STYLES + STUDY_STYLES));
  }
}
