import assert from "node:assert/strict";
import {
  LISTEN_FDS_START,
  MAX_LISTEN_FDS,
  parseListenFds,
  SocketActivationError,
} from "./socket_activation.ts";

Deno.test("parseListenFds() gives fds from 3 with their names for our pid", () => {
  assert.deepEqual(
    parseListenFds({
      LISTEN_FDS: "2",
      LISTEN_PID: "42",
      LISTEN_FDNAMES: "web:admin",
    }, 42),
    { fds: [3, 4], names: ["web", "admin"] },
  );
  assert.equal(LISTEN_FDS_START, 3);
});

Deno.test("parseListenFds() names fds unknown when LISTEN_FDNAMES is unset", () => {
  assert.deepEqual(
    parseListenFds({ LISTEN_FDS: "1", LISTEN_PID: "7" }, 7),
    { fds: [3], names: ["unknown"] },
  );
});

Deno.test("parseListenFds() ignores another process's LISTEN_PID, a missing variable and LISTEN_FDS=0", () => {
  assert.equal(parseListenFds({ LISTEN_FDS: "1", LISTEN_PID: "41" }, 42), null);
  assert.equal(parseListenFds({ LISTEN_FDS: "1" }, 42), null);
  assert.equal(parseListenFds({ LISTEN_PID: "42" }, 42), null);
  assert.equal(parseListenFds({}, 42), null);
  assert.equal(parseListenFds({ LISTEN_FDS: "0", LISTEN_PID: "42" }, 42), null);
  // Checked only for us: a stale, malformed count of another process is not ours.
  assert.equal(parseListenFds({ LISTEN_FDS: "x", LISTEN_PID: "41" }, 42), null);
});

Deno.test("parseListenFds() refuses malformed variables with a message naming them", () => {
  const bad = (env: Record<string, string>, pattern: RegExp) =>
    assert.throws(
      () => parseListenFds(env, 42),
      (error: unknown) =>
        error instanceof SocketActivationError && pattern.test(error.message),
    );
  bad({ LISTEN_FDS: "abc", LISTEN_PID: "42" }, /Invalid LISTEN_FDS "abc"/);
  bad({ LISTEN_FDS: "-1", LISTEN_PID: "42" }, /Invalid LISTEN_FDS "-1"/);
  bad({ LISTEN_FDS: "1.5", LISTEN_PID: "42" }, /Invalid LISTEN_FDS "1.5"/);
  bad({ LISTEN_FDS: "", LISTEN_PID: "42" }, /Invalid LISTEN_FDS ""/);
  bad({ LISTEN_FDS: "1", LISTEN_PID: "me" }, /Invalid LISTEN_PID "me"/);
  bad({ LISTEN_FDS: "1", LISTEN_PID: "0" }, /Invalid LISTEN_PID "0"/);
  bad(
    { LISTEN_FDS: "2", LISTEN_PID: "42", LISTEN_FDNAMES: "web" },
    /Invalid LISTEN_FDNAMES "web": 1 names for LISTEN_FDS=2/,
  );
});

Deno.test("parseListenFds() refuses more than MAX_LISTEN_FDS sockets", () => {
  assert.equal(
    parseListenFds(
      { LISTEN_FDS: String(MAX_LISTEN_FDS), LISTEN_PID: "42" },
      42,
    )?.fds.length,
    MAX_LISTEN_FDS,
  );
  assert.throws(
    () =>
      parseListenFds(
        { LISTEN_FDS: String(MAX_LISTEN_FDS + 1), LISTEN_PID: "42" },
        42,
      ),
    SocketActivationError,
  );
});
