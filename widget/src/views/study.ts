/**
 * Study mode's panel: the study's tasks (start one, then say it worked or give up) and, at the end, the ten
 * System Usability Scale statements. Keyboard and screen readers: every control is a native button or
 * radio with a visible label, each statement is a fieldset whose legend is the statement, and progress is
 * announced through a polite live region.
 */

import { h } from "../dom";
import type { Locale } from "../i18n";
import { studyTasks, susQuestionnaire, type StudyTask } from "../study/content";
import type { StudyRecorder } from "../study/recorder";

const TEXT = {
  en: {
    title: "Usability study",
    hint: "Do each task using the assistant below. When you are done, say whether it worked or you gave up.",
    start: "Start",
    worked: "It worked",
    giveUp: "Give up",
    running: "in progress",
    succeeded: "done",
    abandoned: "gave up",
    finish: "Finish: answer the questionnaire",
    susTitle: "Questionnaire",
    susHint: "How much do you agree with each statement? (1 = strongly disagree, 5 = strongly agree)",
    susSend: "Send answers",
    susMissing: (n: number): string => `Answer statement ${n} first.`,
    susThanks: "Thank you! Your answers were recorded.",
    started: (t: string): string => `Task started: ${t}`,
    ended: (t: string, outcome: string): string => `Task ${outcome}: ${t}`,
    failed: "Could not record this; it will be sent with the next step.",
  },
  "pt-BR": {
    title: "Teste de usabilidade",
    hint: "Faça cada tarefa usando o assistente abaixo. Ao terminar, diga se deu certo ou se desistiu.",
    start: "Começar",
    worked: "Deu certo",
    giveUp: "Desistir",
    running: "em andamento",
    succeeded: "concluída",
    abandoned: "desistiu",
    finish: "Terminar: responder ao questionário",
    susTitle: "Questionário",
    susHint: "Quanto você concorda com cada afirmação? (1 = discordo totalmente, 5 = concordo totalmente)",
    susSend: "Enviar respostas",
    susMissing: (n: number): string => `Responda primeiro à afirmação ${n}.`,
    susThanks: "Obrigado! Suas respostas foram registradas.",
    started: (t: string): string => `Tarefa iniciada: ${t}`,
    ended: (t: string, outcome: string): string => `Tarefa ${outcome}: ${t}`,
    failed: "Não foi possível registrar; será enviado com o próximo passo.",
  },
};

export const STUDY_STYLES = `
#study{padding:10px 14px;border-bottom:1px solid var(--line);max-height:45%;overflow:auto;font-size:14px}
#study h3{margin:0 0 4px;font-size:15px}#study p{margin:0 0 6px}#study ol{margin:0 0 8px;padding-left:20px}
#study li{margin:4px 0}#study .state{color:var(--muted,#666);margin-left:4px}#study .row{display:flex;gap:6px;flex-wrap:wrap;margin-top:4px}
#study fieldset{border:1px solid var(--line);border-radius:8px;margin:0 0 8px;padding:6px 8px}
#study legend{font-weight:600;padding:0 4px}#study .choices{display:flex;flex-wrap:wrap;gap:4px 10px}
#study .choices label{display:inline-flex;align-items:center;gap:3px}
`;

export class StudyPanel {
  readonly section: HTMLElement;
  private readonly t: (typeof TEXT)["en"];
  private readonly tasks: StudyTask[];
  private readonly status: HTMLElement;
  private readonly body: HTMLElement;

  constructor(
    private readonly locale: Locale,
    private readonly recorder: StudyRecorder,
  ) {
    this.t = TEXT[locale];
    this.tasks = studyTasks(locale);
    this.status = h("p", { id: "study-status", role: "status", "aria-live": "polite" });
    this.body = h("div", {});
    this.section = h(
      "section",
      { id: "study", part: "study", "aria-labelledby": "study-title" },
      h("h3", { id: "study-title" }, this.t.title),
      this.body,
      this.status,
    );
    this.showTasks();
  }

  private say(text: string): void {
    this.status.textContent = text;
  }

  private showTasks(focusTask?: string): void {
    const running = this.recorder.running;
    const items = this.tasks.map((task) => {
      const state = this.recorder.state(task.id);
      const li = h("li", { "data-task": task.id, "data-state": state }, h("b", {}, task.title));
      if (state !== "todo") li.append(h("span", { class: "state" }, `(${this.t[state]})`));
      if (state === "running") {
        li.append(h("p", {}, task.prompt), h("p", {}, `✓ ${task.success}`));
        const worked = h("button", { type: "button", class: "btn" }, this.t.worked);
        const giveUp = h("button", { type: "button", class: "btn ghost" }, this.t.giveUp);
        worked.addEventListener("click", () => void this.end(task, "succeeded"));
        giveUp.addEventListener("click", () => void this.end(task, "abandoned"));
        li.append(h("div", { class: "row" }, worked, giveUp));
      } else if (state === "todo" && !running) {
        const start = h("button", { type: "button", class: "btn ghost", "aria-label": `${this.t.start}: ${task.title}` }, this.t.start);
        start.addEventListener("click", () => void this.begin(task));
        li.append(" ", start);
      }
      return li;
    });
    const finish = h("button", { type: "button", class: "btn", id: "study-finish", disabled: running !== undefined }, this.t.finish);
    finish.addEventListener("click", () => this.showQuestionnaire());
    this.body.replaceChildren(h("p", {}, this.t.hint), h("ol", {}, ...items), finish);
    const target = focusTask ? this.body.querySelector<HTMLElement>(`li[data-task="${focusTask}"] button`) : null;
    (target ?? (focusTask ? finish : null))?.focus();
  }

  private async begin(task: StudyTask): Promise<void> {
    this.showTasks(task.id);
    this.say(this.t.started(task.title));
    if (!(await this.recorder.start(task.id))) this.say(this.t.failed);
  }

  private async end(task: StudyTask, outcome: "succeeded" | "abandoned"): Promise<void> {
    const next = this.tasks.find((t) => this.recorder.state(t.id) === "todo" && t.id !== task.id);
    const sent = this.recorder.finish(task.id, outcome);
    this.showTasks(next?.id ?? "");
    this.say(this.t.ended(task.title, this.t[outcome]));
    if (!(await sent)) this.say(this.t.failed);
  }

  private showQuestionnaire(): void {
    const { statements, scale } = susQuestionnaire(this.locale);
    const fieldsets = statements.map((statement, i) =>
      h(
        "fieldset",
        {},
        h("legend", {}, `${i + 1}. ${statement}`),
        h(
          "div",
          { class: "choices" },
          ...scale.map((label, v) =>
            h("label", {}, h("input", { type: "radio", name: `sus-${i + 1}`, value: String(v + 1), required: true }), `${v + 1} ${label}`),
          ),
        ),
      ),
    );
    const send = h("button", { type: "submit", class: "btn" }, this.t.susSend);
    const form = h("form", { id: "sus", "aria-labelledby": "sus-title", novalidate: true }, h("h3", { id: "sus-title" }, this.t.susTitle), h("p", { id: "sus-hint" }, this.t.susHint), ...fieldsets, send);
    form.setAttribute("aria-describedby", "sus-hint");
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const answers = statements.map((_, i) => Number(form.querySelector<HTMLInputElement>(`input[name="sus-${i + 1}"]:checked`)?.value ?? 0));
      const missing = answers.findIndex((a) => a === 0);
      if (missing >= 0) {
        this.say(this.t.susMissing(missing + 1));
        form.querySelector<HTMLInputElement>(`input[name="sus-${missing + 1}"]`)?.focus();
        return;
      }
      send.disabled = true;
      void this.recorder.answerSus(answers).then((ok) => {
        if (!ok) {
          send.disabled = false;
          this.say(this.t.failed);
          return;
        }
        this.body.replaceChildren(h("p", { id: "study-done", tabindex: "-1" }, this.t.susThanks));
        this.say(this.t.susThanks);
        this.body.querySelector<HTMLElement>("#study-done")?.focus();
      });
    });
    this.title.textContent = this.t.susTitle;
    this.body.replaceChildren(form);
    form.querySelector<HTMLInputElement>("input")?.focus();
  }

  private get title(): HTMLElement {
    return this.section.querySelector<HTMLElement>("#study-title") ?? this.section;
  }
}
