/**
 * Another Deno project uses tcpkit from a checkout, the two ways the README
 * shows: an import map in its own deno.json, or `--config` pointing at
 * tcpkit's. The project lives outside the checkout, and the README's
 * library example runs there with exactly the permissions the README names.
 */
import assert from "node:assert/strict";

const CHECKOUT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const decoder = new TextDecoder();

// The README's library example, as another project would write it.
const EXAMPLE = `import { probe, Tcpservd } from "@tcpkit/tcpkit";

await using server = new Tcpservd({ hostname: "127.0.0.1", port: 0 });
server.state.set("BAD");
const result = await probe("127.0.0.1", server.addr.port, { timeoutMs: 2000 });
console.log(result.status); // "BAD"
`;

// The permissions the README gives for the library example.
const PERMISSIONS = ["--allow-net=127.0.0.1", "--allow-sys=hostname"];

interface Run {
  code: number;
  out: string;
  err: string;
}

async function deno(args: string[], cwd: string): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60000);
  try {
    const { code, stdout, stderr } = await child.output();
    return { code, out: decoder.decode(stdout), err: decoder.decode(stderr) };
  } finally {
    clearTimeout(timer);
  }
}

async function project(
  files: Record<string, string>,
): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "tcpkit-user-" });
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}`, text);
  }
  return {
    dir,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** tcpkit's own dependency, as its deno.json names it. */
async function logtapeSpecifier(): Promise<string> {
  const config = JSON.parse(
    await Deno.readTextFile(`${CHECKOUT}/deno.json`),
  ) as { imports: Record<string, string> };
  const specifier = config.imports["@logtape/logtape"];
  assert.ok(specifier, "deno.json maps @logtape/logtape");
  return specifier;
}

Deno.test("another project imports tcpkit from a checkout through its own import map", async () => {
  const importMap = {
    imports: {
      "@tcpkit/tcpkit": `${CHECKOUT}/mod.ts`,
      "@tcpkit/tcpkit/": `${CHECKOUT}/`,
      "@logtape/logtape": await logtapeSpecifier(),
    },
  };
  await using user = await project({
    "deno.json": JSON.stringify(importMap, null, 2),
    "main.ts": EXAMPLE,
  });
  const run = await deno(["run", ...PERMISSIONS, "main.ts"], user.dir);
  assert.equal(run.code, 0, run.err);
  assert.equal(run.out, "BAD\n");
});

Deno.test("another project imports tcpkit with --config <checkout>/deno.json", async () => {
  await using user = await project({ "main.ts": EXAMPLE });
  const run = await deno(
    ["run", "--config", `${CHECKOUT}/deno.json`, ...PERMISSIONS, "main.ts"],
    user.dir,
  );
  assert.equal(run.code, 0, run.err);
  assert.equal(run.out, "BAD\n");
});

Deno.test("the library example needs --allow-sys=hostname, and says so", async () => {
  await using user = await project({ "main.ts": EXAMPLE });
  const run = await deno(
    ["run", "--config", `${CHECKOUT}/deno.json`, "--allow-net", "main.ts"],
    user.dir,
  );
  assert.notEqual(run.code, 0);
  assert.match(run.err, /NotCapable|Requires sys access to "hostname"/);
});

Deno.test("importing the checkout by bare path, with no map, fails as the README warns", async () => {
  await using user = await project({
    "main.ts": EXAMPLE.replace('"@tcpkit/tcpkit"', `"${CHECKOUT}/mod.ts"`),
  });
  const run = await deno(["run", ...PERMISSIONS, "main.ts"], user.dir);
  assert.notEqual(run.code, 0);
  assert.match(run.err, /"@logtape\/logtape" not a dependency/);
});
