import assert from "node:assert/strict";
import { getServiceByName } from "./services.ts";

/** Reads /etc/services into name → port for one protocol, or null when absent. */
function readServices(protocol: "tcp" | "udp"): Map<string, number> | null {
  let text: string;
  try {
    text = Deno.readTextFileSync("/etc/services");
  } catch {
    return null;
  }
  const ports = new Map<string, number>();
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    const [name, portProto, ...aliases] = line.split(/\s+/);
    const match = /^(\d+)\/(\w+)$/.exec(portProto ?? "");
    if (name === undefined || match === null || match[2] !== protocol) continue;
    for (const key of [name, ...aliases]) {
      if (!ports.has(key)) ports.set(key, Number(match[1]));
    }
  }
  return ports;
}

const TCP = readServices("tcp");
const UDP = readServices("udp");

Deno.test({
  name: "getServiceByName() resolves http and ssh as /etc/services says",
  ignore: TCP === null || !TCP.has("http") || !TCP.has("ssh"),
  fn() {
    assert.equal(getServiceByName("http"), TCP?.get("http"));
    assert.equal(getServiceByName("ssh", "tcp"), TCP?.get("ssh"));
  },
});

Deno.test({
  name: "getServiceByName() resolves aliases and udp services",
  ignore: TCP === null || UDP === null || !TCP.has("www") || !UDP.has("domain"),
  fn() {
    assert.equal(getServiceByName("www"), TCP?.get("www"));
    assert.equal(getServiceByName("domain", "udp"), UDP?.get("domain"));
  },
});

Deno.test("getServiceByName() returns null for an unknown service", () => {
  assert.equal(getServiceByName("tcpkit-no-such-service"), null);
  assert.equal(getServiceByName("80"), null);
});

Deno.test("getServiceByName() rejects empty names, NUL bytes and bad protocols", () => {
  assert.throws(() => getServiceByName(""), TypeError);
  assert.throws(() => getServiceByName("http\0ssh"), TypeError);
  assert.throws(() => getServiceByName("http", "sctp" as "tcp"), TypeError);
});
