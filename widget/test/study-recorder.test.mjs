// The study recorder: records stamped by the client's clock, one session id, failed sends kept and resent.
import { test } from "node:test";
import assert from "node:assert/strict";
import { StudyRecorder } from "../dist/test-lib/study/recorder.js";

function recorder(fail = () => false) {
  const sent = [];
  let n = 0;
  let clock = Date.parse("2026-12-01T10:00:00Z");
  const r = new StudyRecorder(
    async (records) => {
      if (fail()) throw new Error("offline");
      sent.push(...records);
    },
    "LANGUAGE_EN",
    () => `id${n++}`,
    () => new Date((clock += 42_000)),
  );
  return { r, sent };
}

test("a task's start and outcome are records of one session stamped by the client's clock", async () => {
  const { r, sent } = recorder();
  assert.equal(await r.start("late-this-week"), true);
  assert.equal(r.running, "late-this-week");
  await r.finish("late-this-week", "succeeded");
  assert.equal(r.state("late-this-week"), "succeeded");
  assert.equal(r.running, undefined);
  assert.deepEqual(
    sent.map((s) => [s.kind, s.taskId, s.sessionId, s.occurTime]),
    [
      ["STUDY_RECORD_KIND_TASK_STARTED", "late-this-week", "id0", "2026-12-01T10:00:42.000Z"],
      ["STUDY_RECORD_KIND_TASK_SUCCEEDED", "late-this-week", "id0", "2026-12-01T10:01:24.000Z"],
    ],
  );
  assert.notEqual(sent[0].recordId, sent[1].recordId);
});

test("records that could not be sent go with the next send, in order", async () => {
  let offline = true;
  const { r, sent } = recorder(() => offline);
  assert.equal(await r.start("who-blocks"), false);
  offline = false;
  assert.equal(await r.finish("who-blocks", "abandoned"), true);
  assert.deepEqual(sent.map((s) => s.kind), ["STUDY_RECORD_KIND_TASK_STARTED", "STUDY_RECORD_KIND_TASK_ABANDONED"]);
  await r.answerSus([5, 1, 5, 1, 5, 1, 5, 1, 5, 1]);
  assert.deepEqual(sent[2].susAnswers, [5, 1, 5, 1, 5, 1, 5, 1, 5, 1]);
});
