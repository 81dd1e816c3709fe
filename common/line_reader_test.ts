import assert from "node:assert/strict";
import {
  type ByteReader,
  LineReader,
  LineTooLongError,
} from "./line_reader.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A reader over a list of chunks; a chunk larger than `p` is split across calls. */
interface FakeReader extends ByteReader {
  /** Sum of `p.length` over every call to `read`. */
  readonly askedBytes: number;
  /** Sum of the bytes handed out. */
  readonly givenBytes: number;
  /** Number of calls to `read`. */
  readonly calls: number;
}

function fakeReader(chunks: Iterable<Uint8Array | string>): FakeReader {
  const iterator = chunks[Symbol.iterator]();
  let pending: Uint8Array | undefined;
  let askedBytes = 0;
  let givenBytes = 0;
  let calls = 0;
  return {
    get askedBytes() {
      return askedBytes;
    },
    get givenBytes() {
      return givenBytes;
    },
    get calls() {
      return calls;
    },
    read(p: Uint8Array): Promise<number | null> {
      calls++;
      askedBytes += p.length;
      // Skip empty chunks; bounded by the (finite) chunk list.
      while (pending === undefined || pending.length === 0) {
        const next = iterator.next();
        if (next.done) return Promise.resolve(null);
        pending = typeof next.value === "string"
          ? encoder.encode(next.value)
          : next.value;
      }
      const n = Math.min(p.length, pending.length);
      p.set(pending.subarray(0, n));
      pending = pending.subarray(n);
      givenBytes += n;
      return Promise.resolve(n);
    },
  };
}

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

function oneByteChunks(text: string | Uint8Array): Uint8Array[] {
  const all = typeof text === "string" ? encoder.encode(text) : text;
  return Array.from(all, (b) => Uint8Array.of(b));
}

/** Reads every line (bounded by `limit`) and returns them as text plus terminator. */
async function readAll(
  reader: LineReader,
  limit = 1000,
): Promise<[string, string][]> {
  const lines: [string, string][] = [];
  for (let i = 0; i < limit; i++) {
    const line = await reader.readLine();
    if (line === null) return lines;
    lines.push([decoder.decode(line.bytes), line.terminator]);
  }
  throw new Error(`More than ${limit} lines`);
}

Deno.test("LineReader.readLine() splits lines ending in LF", async () => {
  const reader = new LineReader(fakeReader(["one\ntwo\n"]));
  assert.deepEqual(await readAll(reader), [["one", "\n"], ["two", "\n"]]);
});

Deno.test("LineReader.readLine() splits lines ending in CRLF and strips the CR", async () => {
  const reader = new LineReader(fakeReader(["one\r\ntwo\r\n"]));
  assert.deepEqual(await readAll(reader), [["one", "\r\n"], ["two", "\r\n"]]);
});

Deno.test("LineReader.readLine() reports the terminator of each line in a mixed stream", async () => {
  const reader = new LineReader(fakeReader(["a\r\nb\nc\r\n"]));
  const terminators = (await readAll(reader)).map(([, t]) => t);
  assert.deepEqual(terminators, ["\r\n", "\n", "\r\n"]);
});

Deno.test("LineReader.readLine() keeps a lone CR inside a line", async () => {
  const reader = new LineReader(fakeReader(["a\rb\n\rc\r\n"]));
  assert.deepEqual(await readAll(reader), [["a\rb", "\n"], ["\rc", "\r\n"]]);
});

Deno.test("LineReader.readLine() returns an empty line for a bare LF or CRLF", async () => {
  const reader = new LineReader(fakeReader(["\n\r\n"]));
  assert.deepEqual(await readAll(reader), [["", "\n"], ["", "\r\n"]]);
});

Deno.test("LineReader.readLine() joins a line split across many 1-byte reads", async () => {
  const source = fakeReader(oneByteChunks("getstatus\r\nquit\n"));
  const reader = new LineReader(source);
  assert.deepEqual(await readAll(reader), [["getstatus", "\r\n"], [
    "quit",
    "\n",
  ]]);
  assert.ok(source.calls >= 16, `only ${source.calls} reads`);
});

Deno.test("LineReader.readLine() joins a CRLF split between two reads", async () => {
  const reader = new LineReader(fakeReader(["abc\r", "\ndef\n"]));
  assert.deepEqual(await readAll(reader), [["abc", "\r\n"], ["def", "\n"]]);
});

Deno.test("LineReader.readLine() returns several lines that arrive in one read", async () => {
  const source = fakeReader(["a\nbb\nccc\n"]);
  const reader = new LineReader(source);
  assert.deepEqual(await readAll(reader), [["a", "\n"], ["bb", "\n"], [
    "ccc",
    "\n",
  ]]);
  // One read for the data, one that reports end of stream.
  assert.equal(source.calls, 2);
});

Deno.test("LineReader.readLine() returns the same lines whatever the read sizes", async () => {
  const text = "alpha\r\nbeta\n\ngamma\rdelta\r\n" + "x".repeat(50) + "\nomega";
  const expected = await readAll(new LineReader(fakeReader([text])));
  for (const chunkSize of [1, 2, 3, 5, 7, 64]) {
    const reader = new LineReader(fakeReader([text]), {
      chunkSize,
      maxLine: 64,
    });
    assert.deepEqual(await readAll(reader), expected, `chunkSize ${chunkSize}`);
  }
  assert.deepEqual(expected.at(-1), ["omega", ""]);
});

Deno.test("LineReader.readLine() returns a last line without terminator with terminator empty", async () => {
  const reader = new LineReader(fakeReader(["first\nlast"]));
  assert.deepEqual(
    await reader.readLine().then((l) => l && decoder.decode(l.bytes)),
    "first",
  );
  const last = await reader.readLine();
  assert.ok(last);
  assert.equal(decoder.decode(last.bytes), "last");
  assert.equal(last.terminator, "");
  assert.equal(await reader.readLine(), null);
});

Deno.test("LineReader.readLine() resolves to null at end of an empty stream", async () => {
  const reader = new LineReader(fakeReader([]));
  assert.equal(await reader.readLine(), null);
  assert.equal(await reader.readLine(), null);
});

Deno.test("LineReader.readLine() resolves to null after the last terminated line", async () => {
  const reader = new LineReader(fakeReader(["only\n"]));
  assert.deepEqual(await reader.readLine().then((l) => l?.terminator), "\n");
  assert.equal(await reader.readLine(), null);
});

Deno.test("LineReader.readLine() accepts a line of exactly maxLine bytes ending in LF", async () => {
  const reader = new LineReader(fakeReader(["abcdefgh\nnext\n"]), {
    maxLine: 8,
  });
  assert.deepEqual(await readAll(reader), [["abcdefgh", "\n"], ["next", "\n"]]);
});

Deno.test("LineReader.readLine() accepts a line of exactly maxLine bytes ending in CRLF", async () => {
  const reader = new LineReader(fakeReader(["abcdefgh\r\n"]), { maxLine: 8 });
  assert.deepEqual(await readAll(reader), [["abcdefgh", "\r\n"]]);
});

Deno.test("LineReader.readLine() accepts maxLine bytes plus CRLF given one byte per read", async () => {
  const reader = new LineReader(fakeReader(oneByteChunks("abcdefgh\r\n")), {
    maxLine: 8,
  });
  assert.deepEqual(await readAll(reader), [["abcdefgh", "\r\n"]]);
});

Deno.test("LineReader.readLine() accepts a last line of exactly maxLine bytes at end of stream", async () => {
  const reader = new LineReader(fakeReader(["abcdefgh"]), { maxLine: 8 });
  assert.deepEqual(await readAll(reader), [["abcdefgh", ""]]);
});

Deno.test("LineReader.readLine() throws LineTooLongError for maxLine + 1 bytes ending in LF", async () => {
  const reader = new LineReader(fakeReader(["abcdefghi\n"]), { maxLine: 8 });
  await assert.rejects(() => reader.readLine(), (error: unknown) => {
    assert.ok(error instanceof LineTooLongError);
    assert.equal(error.maxLine, 8);
    assert.equal(error.name, "LineTooLongError");
    return true;
  });
});

Deno.test("LineReader.readLine() throws LineTooLongError for maxLine + 1 bytes ending in CRLF", async () => {
  const reader = new LineReader(fakeReader(["abcdefghi\r\n"]), { maxLine: 8 });
  await assert.rejects(() => reader.readLine(), LineTooLongError);
});

Deno.test("LineReader.readLine() throws LineTooLongError for maxLine + 1 bytes given one byte per read", async () => {
  const reader = new LineReader(fakeReader(oneByteChunks("abcdefghi\r\n")), {
    maxLine: 8,
  });
  await assert.rejects(() => reader.readLine(), LineTooLongError);
});

Deno.test("LineReader.readLine() throws LineTooLongError for a last line of maxLine + 1 bytes at end of stream", async () => {
  // A line without terminator is still a line: it must obey the same limit.
  const reader = new LineReader(fakeReader(["abcdefghi"]), { maxLine: 8 });
  await assert.rejects(() => reader.readLine(), LineTooLongError);
});

Deno.test("LineReader.readLine() throws LineTooLongError for maxLine + 2 bytes without newline", async () => {
  const reader = new LineReader(fakeReader(["abcdefghij"]), { maxLine: 8 });
  await assert.rejects(() => reader.readLine(), LineTooLongError);
});

Deno.test("LineReader.readLine() throws LineTooLongError after a good line when the next is too long", async () => {
  const reader = new LineReader(fakeReader(["ok\n" + "z".repeat(100) + "\n"]), {
    maxLine: 8,
  });
  assert.deepEqual(
    await reader.readLine().then((l) => l && decoder.decode(l.bytes)),
    "ok",
  );
  await assert.rejects(() => reader.readLine(), LineTooLongError);
});

Deno.test("LineReader.readLine() stops reading a newline-free 10 MB stream after a bounded amount", async () => {
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  const total = 10 * 1024 * 1024;
  function* stream(): Generator<Uint8Array> {
    for (let sent = 0; sent < total; sent += chunk.length) yield chunk;
  }
  const maxLine = 1024;
  const source = fakeReader(stream());
  const reader = new LineReader(source, { maxLine });
  await assert.rejects(() => reader.readLine(), LineTooLongError);
  const bound = 64 * 1024 + 2 * maxLine;
  assert.ok(source.askedBytes < bound, `asked for ${source.askedBytes} bytes`);
  assert.ok(source.givenBytes > maxLine, `given ${source.givenBytes} bytes`);
});

Deno.test("LineReader.readLine() stops reading a newline-free stream after a bounded amount with a large chunkSize", async () => {
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  function* stream(): Generator<Uint8Array> {
    for (let i = 0; i < 160; i++) yield chunk;
  }
  const maxLine = 100;
  const source = fakeReader(stream());
  const reader = new LineReader(source, { maxLine, chunkSize: 64 * 1024 });
  await assert.rejects(() => reader.readLine(), LineTooLongError);
  assert.ok(
    source.askedBytes < 64 * 1024 + 2 * maxLine,
    `asked for ${source.askedBytes} bytes`,
  );
});

Deno.test("LineReader.readLine() passes NUL bytes through unchanged", async () => {
  const line = Uint8Array.of(0x61, 0x00, 0x62, 0x00);
  const reader = new LineReader(fakeReader([Uint8Array.of(...line, 0x0a)]));
  const got = await reader.readLine();
  assert.ok(got);
  assert.deepEqual(got.bytes, line);
  assert.equal(got.terminator, "\n");
});

Deno.test("LineReader.readLine() passes invalid UTF-8 through unchanged", async () => {
  const line = Uint8Array.of(0xff, 0xfe, 0x41, 0xc3);
  const reader = new LineReader(
    fakeReader(oneByteChunks(Uint8Array.of(...line, 0x0d, 0x0a))),
  );
  const got = await reader.readLine();
  assert.ok(got);
  assert.deepEqual(got.bytes, line);
  assert.equal(got.terminator, "\r\n");
});

Deno.test("LineReader.readLine() returns bytes that stay valid after later reads", async () => {
  const reader = new LineReader(fakeReader(["first\n", "second\n"]), {
    chunkSize: 8,
    maxLine: 8,
  });
  const first = await reader.readLine();
  const second = await reader.readLine();
  assert.ok(first && second);
  assert.equal(decoder.decode(first.bytes), "first");
  assert.equal(decoder.decode(second.bytes), "second");
});

Deno.test("LineReader.buffered() returns the bytes after the last returned line", async () => {
  const reader = new LineReader(fakeReader(["one\ntwo\nthr"]));
  await reader.readLine();
  assert.deepEqual(reader.buffered(), bytes("two\nthr"));
  await reader.readLine();
  assert.deepEqual(reader.buffered(), bytes("thr"));
});

Deno.test("LineReader.buffered() is empty before any read and after a buffer is consumed", async () => {
  const reader = new LineReader(fakeReader(["one\n"]));
  assert.deepEqual(reader.buffered(), new Uint8Array(0));
  await reader.readLine();
  assert.deepEqual(reader.buffered(), new Uint8Array(0));
});

Deno.test("LineReader() throws RangeError for maxLine 0", () => {
  assert.throws(
    () => new LineReader(fakeReader([]), { maxLine: 0 }),
    RangeError,
  );
});

Deno.test("LineReader() throws RangeError for a negative or fractional maxLine", () => {
  assert.throws(
    () => new LineReader(fakeReader([]), { maxLine: -1 }),
    RangeError,
  );
  assert.throws(
    () => new LineReader(fakeReader([]), { maxLine: 1.5 }),
    RangeError,
  );
  assert.throws(
    () => new LineReader(fakeReader([]), { maxLine: NaN }),
    RangeError,
  );
});

Deno.test("LineReader() throws RangeError for chunkSize 0", () => {
  assert.throws(
    () => new LineReader(fakeReader([]), { chunkSize: 0 }),
    RangeError,
  );
});

Deno.test("LineReader() accepts maxLine 1", async () => {
  const reader = new LineReader(fakeReader(["a\n\r\nbc\n"]), { maxLine: 1 });
  assert.deepEqual(
    await reader.readLine().then((l) => l && decoder.decode(l.bytes)),
    "a",
  );
  assert.deepEqual(await reader.readLine().then((l) => l?.terminator), "\r\n");
  await assert.rejects(() => reader.readLine(), LineTooLongError);
});

Deno.test("LineReader holds 256 bytes while idle and takes chunkSize once a read fills its buffer", async () => {
  const sizes: number[] = [];
  const big = "x".repeat(10000) + "\n";
  let offset = 0;
  const reader = new LineReader({
    read(p) {
      sizes.push(p.length);
      if (offset >= big.length) return Promise.resolve(null);
      const n = encoder.encodeInto(big.slice(offset, offset + p.length), p)
        .written;
      offset += n;
      return Promise.resolve(n);
    },
  }, { maxLine: 20000, chunkSize: 4096 });
  const line = await reader.readLine();
  assert.equal(line?.bytes.length, 10000);
  // An idle connection's pending read holds 256 bytes, not 4 KiB.
  assert.equal(sizes[0], 256);
  // A full read makes the next one ask for (at least) chunkSize.
  assert.ok(sizes[1]! >= 4096 - 256, `second read asked ${sizes[1]}`);
  assert.ok(sizes.length <= 6, `${sizes.length} reads: ${sizes}`);
});
