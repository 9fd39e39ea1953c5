import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Debouncer } from "../../src/debounce";

test("a burst of saves of one file validates it once, after the quiet period; other files keep their own", async () => {
  const ran: string[] = [];
  const d = new Debouncer<string>(() => 40, (key) => ran.push(key));
  d.trigger("a");
  await sleep(10);
  d.trigger("a");
  d.trigger("b");
  await sleep(10);
  d.trigger("a");
  assert.deepEqual(ran, []);
  await sleep(120);
  assert.deepEqual(ran.sort(), ["a", "b"]);
  d.trigger("a");
  d.dispose();
  await sleep(60);
  assert.deepEqual(ran.sort(), ["a", "b"]); // disposed: the pending run never happens
});
