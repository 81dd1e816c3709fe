import assert from "node:assert/strict";
import {
  frameReply,
  ORIGINAL_REPLY_SIZE,
  parseReplyFraming,
} from "./reply_framing.ts";

const decoder = new TextDecoder();

Deno.test("frameReply() in tcpkit framing joins the parts and the prompt", () => {
  assert.equal(decoder.decode(frameReply("tcpkit", ["GOOD\n"])), "GOOD\n> ");
  assert.equal(
    decoder.decode(frameReply("tcpkit", [new Uint8Array([0x61]), "\r\n"])),
    "a\r\n> ",
  );
  assert.equal(
    decoder.decode(frameReply("tcpkit", ["QUIT\n"], false)),
    "QUIT\n",
  );
});

Deno.test("frameReply() in original framing pads the reply with NULs to 8192 bytes", () => {
  const framed = frameReply("original", ["BAD\n"]);
  assert.equal(framed.length, ORIGINAL_REPLY_SIZE + 2);
  assert.equal(decoder.decode(framed.subarray(0, 4)), "BAD\n");
  assert.ok(framed.subarray(4, ORIGINAL_REPLY_SIZE).every((b) => b === 0));
  assert.equal(decoder.decode(framed.subarray(ORIGINAL_REPLY_SIZE)), "> ");
  // A reply longer than the pad is not cut.
  const long = "x".repeat(9000);
  assert.equal(frameReply("original", [long], false).length, 9000);
});

Deno.test("parseReplyFraming() takes tcpkit or original only", () => {
  assert.equal(parseReplyFraming("original"), "original");
  assert.equal(parseReplyFraming("tcpkit"), "tcpkit");
  assert.equal(parseReplyFraming("Original"), undefined);
});
