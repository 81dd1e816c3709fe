/**
 * The probe must start fast: any `node:` import costs 13–20 ms and
 * `@logtape/logtape` about 30 ms. This walks tcpcli's static module graph
 * (`deno info --json`) and fails on any module that is not a local file.
 */
import assert from "node:assert/strict";

interface Dependency {
  specifier: string;
  code?: { specifier: string };
  isDynamic?: boolean;
}
interface ModuleInfo {
  specifier: string;
  dependencies?: Dependency[];
}

Deno.test("tcpcli's static module graph has no node: or npm: import", async () => {
  const root = new URL("./main.ts", import.meta.url).href;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", root],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: ModuleInfo[];
  };
  const bySpecifier = new Map(graph.modules.map((m) => [m.specifier, m]));
  // Breadth-first over static imports only, remembering who imported what.
  const via = new Map<string, string>([[root, ""]]);
  const queue = [root];
  const foreign: string[] = [];
  while (queue.length > 0) {
    const specifier = queue.shift()!;
    if (!specifier.startsWith("file:")) {
      foreign.push(`${specifier} (imported by ${via.get(specifier)})`);
      continue;
    }
    for (const dep of bySpecifier.get(specifier)?.dependencies ?? []) {
      // Dynamic imports load on demand; type-only imports (no `code`) never load.
      if (dep.isDynamic || dep.code === undefined) continue;
      const target = dep.code.specifier;
      if (via.has(target)) continue;
      via.set(target, specifier);
      queue.push(target);
    }
  }
  assert.deepEqual(foreign, []);
  // The walk really covered the probe (a broken walk would pass vacuously).
  assert.ok(via.size > 20, `only ${via.size} modules reached`);
  assert.ok([...via.keys()].some((s) => s.endsWith("/client/probe.ts")));
  // The load generator is imported on demand only, by `tcpcli soak`.
  const soak = [...via.keys()].filter((s) =>
    /\/client\/soak[^/]*\.ts$/.test(s)
  );
  assert.deepEqual(soak, []);
  const dynamic = bySpecifier.get(root)?.dependencies?.find((d) =>
    d.code?.specifier.endsWith("/client/soak.ts")
  );
  assert.equal(dynamic?.isDynamic, true, "main.ts imports soak.ts dynamically");
});
