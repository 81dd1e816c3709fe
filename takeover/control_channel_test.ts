import assert from "node:assert/strict";
import { Reactor, unixSocketPair } from "../ffi/mod.ts";
import { LIBC_ENV } from "./_env_libc.ts";
import { ControlChannel } from "./control_channel.ts";
import {
  type ConnectionRecord,
  MAX_FDS_PER_FRAME,
  MAX_REQUEST_FRAME_BYTES,
  toBase64,
} from "./protocol.ts";
import { TakeoverProtocolError } from "./takeover_error.ts";
import { within } from "../tests/_helpers.ts";

function connection(id: number, unread: Uint8Array): ConnectionRecord {
  return {
    id,
    local: "127.0.0.1:80",
    remote: "127.0.0.1:5000",
    cookie: "1",
    unread: toBase64(unread),
    unsent: "",
    state: null,
    closing: false,
  };
}

Deno.test("ControlChannel receives a frame larger than its buffer, then gives the memory back", async () => {
  await using reactor = Reactor.create();
  const [a, b] = unixSocketPair();
  using sender = new ControlChannel(a, reactor, LIBC_ENV, "the sender");
  using receiver = new ControlChannel(b, reactor, LIBC_ENV, "the receiver");
  const base = receiver.bufferSize;
  const unread = new Uint8Array(3 << 20).fill(7);
  const sent = sender.send({
    type: "batch",
    index: 0,
    listeners: [],
    connections: [connection(1, unread)],
  });
  const { message } = await receiver.receive();
  await sent;
  assert.equal(message.type, "batch");
  assert.equal(
    message.type === "batch" ? message.connections[0]!.unread.length : 0,
    toBase64(unread).length,
  );
  // Kept at the size of one frame at most, and not kept after it.
  assert.equal(receiver.bufferSize, base);
  await sender.send({ type: "ready" });
  assert.deepEqual((await receiver.receive()).message, { type: "ready" });
});

Deno.test("ControlChannel refuses a frame over its limit from the header, before its payload", async () => {
  await using reactor = Reactor.create();
  const [a, b] = unixSocketPair();
  using receiver = new ControlChannel(b, reactor, LIBC_ENV, "pid 7", {
    maxFrameBytes: MAX_REQUEST_FRAME_BYTES,
  });
  try {
    // The header alone: the payload never comes, and is not waited for.
    const header = new Uint8Array(8);
    new DataView(header.buffer).setUint32(0, 60_000_000);
    assert.equal(LIBC_ENV.send(a, header, []), 8);
    await assert.rejects(
      receiver.receive(),
      (error: unknown) =>
        error instanceof TakeoverProtocolError &&
        error.message ===
          "Bad frame from pid 7: Frame of 60000000 bytes is larger than 4096",
    );
    assert.ok(receiver.bufferSize <= MAX_REQUEST_FRAME_BYTES + 8);
  } finally {
    LIBC_ENV.close(a);
  }
});

/**
 * How many of `pid`'s fds are the socket that its fd `fd` is (by inode, from
 * `ls -l /proc/PID/fd`: Deno wants --allow-all to read /proc itself).
 */
async function socketLinks(pid: number, fd: number): Promise<number> {
  const out = await new Deno.Command("ls", { args: ["-l", `/proc/${pid}/fd`] })
    .output();
  // No success check: ls fails when an fd of another thread closes between
  // its listing and its lstat; the lines it printed are still right.
  const text = new TextDecoder().decode(out.stdout);
  const own = text.match(new RegExp(` ${fd} -> (socket:\\[\\d+\\])$`, "m"));
  assert.ok(own, `fd ${fd} is not a socket of ${pid}`);
  return text.split("\n").filter((line) => line.endsWith(` -> ${own[1]}`))
    .length;
}

Deno.test("ControlChannel refuses fds that no frame announced past two frames' worth, and closes them", async () => {
  await using reactor = Reactor.create();
  const [a, b] = unixSocketPair();
  const [spare, spareEnd] = unixSocketPair();
  const copiesOfSpare = () => socketLinks(Deno.pid, spare);
  assert.equal(await copiesOfSpare(), 1);
  try {
    const receiver = new ControlChannel(b, reactor, LIBC_ENV, "pid 9");
    try {
      // Three messages of one byte (never a whole header), each with
      // MAX_FDS_PER_FRAME copies of one fd: more than two frames' worth.
      const fds = new Array<number>(MAX_FDS_PER_FRAME).fill(spare);
      for (let i = 0; i < 3; i++) {
        assert.equal(LIBC_ENV.send(a, new Uint8Array([0]), fds), 1);
      }
      await assert.rejects(
        within(5000, "the refusal", receiver.receive()),
        (error: unknown) =>
          error instanceof TakeoverProtocolError &&
          /^pid 9 sent \d+ fds that no frame announced$/.test(error.message),
      );
    } finally {
      receiver.close();
    }
    // Every copy received went with the channel: only our own is left.
    assert.equal(await copiesOfSpare(), 1);
  } finally {
    for (const fd of [a, spare, spareEnd]) LIBC_ENV.close(fd);
  }
});
