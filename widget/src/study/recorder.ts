/**
 * What a tester does in the study, as records for `POST /v1/study/events` (DOM-free, so it is tested in node).
 *
 * Each record is stamped with the client's clock when it happens (time on task excludes network delays) and
 * carries a fresh record id; records that could not be sent stay queued and go with the next send, and the
 * server stores a resent record once.
 */

import type { StudyRecord, StudyRecordKind } from "../gen/assist/v1/coordinator";
import type { Language } from "../gen/assist/v1/common";

export type Outcome = "succeeded" | "abandoned";
export type TaskState = "todo" | "running" | Outcome;

const KIND: Record<"started" | Outcome, StudyRecordKind> = {
  started: "STUDY_RECORD_KIND_TASK_STARTED",
  succeeded: "STUDY_RECORD_KIND_TASK_SUCCEEDED",
  abandoned: "STUDY_RECORD_KIND_TASK_ABANDONED",
};

export class StudyRecorder {
  readonly sessionId: string;
  private readonly states = new Map<string, TaskState>();
  private queue: StudyRecord[] = [];

  constructor(
    private readonly post: (records: StudyRecord[]) => Promise<void>,
    private readonly language: Language,
    private readonly newId: () => string,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.sessionId = newId();
  }

  state(taskId: string): TaskState {
    return this.states.get(taskId) ?? "todo";
  }

  /** The task now running, if any (one at a time). */
  get running(): string | undefined {
    for (const [id, state] of this.states) if (state === "running") return id;
    return undefined;
  }

  start(taskId: string): Promise<boolean> {
    this.states.set(taskId, "running");
    return this.record({ kind: KIND.started, taskId });
  }

  finish(taskId: string, outcome: Outcome): Promise<boolean> {
    this.states.set(taskId, outcome);
    return this.record({ kind: KIND[outcome], taskId });
  }

  /** The ten SUS answers (1-5, in question order). */
  answerSus(answers: number[]): Promise<boolean> {
    return this.record({ kind: "STUDY_RECORD_KIND_SUS_ANSWERED", susAnswers: answers });
  }

  /** Queue a record and send everything queued; resolves to false when the send failed (kept for later). */
  private async record(fields: Pick<StudyRecord, "kind" | "taskId" | "susAnswers">): Promise<boolean> {
    this.queue.push({
      ...fields,
      recordId: this.newId(),
      sessionId: this.sessionId,
      occurTime: this.now().toISOString(),
      language: this.language,
    });
    const sending = this.queue;
    this.queue = [];
    try {
      await this.post(sending);
      return true;
    } catch {
      this.queue = [...sending, ...this.queue];
      return false;
    }
  }
}
