import assert from "node:assert/strict";
import { UsageError } from "../common/usage_error.ts";
import { parseLogFormat, setupLogging, tcpkitLogger } from "./logging.ts";

Deno.test("parseLogFormat() accepts text and json, defaults to text", () => {
  assert.equal(parseLogFormat(undefined), "text");
  assert.equal(parseLogFormat("text"), "text");
  assert.equal(parseLogFormat("json"), "json");
  assert.throws(
    () => parseLogFormat("xml"),
    (error: unknown) =>
      error instanceof UsageError &&
      error.message === 'Invalid value for --log-format: "xml" (text or json)',
  );
});

Deno.test("setupLogging() writes JSON lines with bare values and the label", () => {
  const chunks: string[] = [];
  const output = {
    writeSync(p: Uint8Array): number {
      chunks.push(new TextDecoder().decode(p));
      return p.length;
    },
  };
  setupLogging({ format: "json", output, label: "worker-3" });
  tcpkitLogger("test").info("listening on {addr} with {n} cookies", {
    addr: "127.0.0.1:1",
    n: 2n,
  });
  const record = JSON.parse(chunks.join(""));
  assert.equal(record.message, "listening on 127.0.0.1:1 with 2 cookies");
  assert.equal(record.level, "INFO");
  assert.equal(record.logger, "tcpkit.test.worker-3");
  assert.equal(record.addr, "127.0.0.1:1");
  assert.equal(record.n, "2");
});

Deno.test("setupLogging() leaves debug records out unless asked", () => {
  const chunks: string[] = [];
  const output = {
    writeSync(p: Uint8Array): number {
      chunks.push(new TextDecoder().decode(p));
      return p.length;
    },
  };
  setupLogging({ output });
  tcpkitLogger("test").debug("hidden");
  tcpkitLogger("test").info("shown");
  assert.equal(chunks.length, 1);
  assert.match(chunks[0]!, /INF\] tcpkit·test: shown\n$/);
  setupLogging({ output, debug: true });
  tcpkitLogger("test").debug("visible");
  assert.match(chunks[1]!, /DBG\] tcpkit·test: visible\n$/);
});
