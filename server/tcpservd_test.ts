import assert from "node:assert/strict";
import { EpollEchoServer } from "./epoll_echo_server.ts";
import { FaultSet } from "./fault_set.ts";
import { parseFaultSpec } from "./fault_spec.ts";
import { TcpServer } from "../net/tcp_server.ts";
import { type EchoEngine, Tcpservd } from "./tcpservd.ts";
import { readExactly } from "../tests/_helpers.ts";

async function roundTrip(port: number, text: string): Promise<string> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(text));
  const reply = await readExactly(conn, text.length);
  return new TextDecoder().decode(reply);
}

for (
  const [engine, kind] of [
    [undefined, TcpServer],
    ["deno", TcpServer],
    ["epoll", EpollEchoServer],
  ] as const
) {
  Deno.test(`Tcpservd echoes through the ${engine ?? "default"} engine`, async () => {
    await using server = new Tcpservd({
      mode: "echo",
      hostname: "127.0.0.1",
      port: 0,
      ...(engine === undefined ? {} : { engine: engine as EchoEngine }),
    });
    assert.ok(server.server instanceof kind);
    assert.equal(await roundTrip(server.addr.port, "a\0b\n"), "a\0b\n");
    assert.equal(server.server.acceptedCount, 1);
  });
}

Deno.test("Tcpservd refuses the epoll engine outside echo mode or with faults", () => {
  assert.throws(
    () => new Tcpservd({ engine: "epoll", hostname: "127.0.0.1", port: 0 }),
    RangeError,
  );
  const faults = new FaultSet();
  faults.add(parseFaultSpec("delay ms=5"));
  assert.throws(
    () =>
      new Tcpservd({
        mode: "echo",
        engine: "epoll",
        faults,
        hostname: "127.0.0.1",
        port: 0,
      }),
    /without faults/,
  );
});
