import assert from "node:assert/strict";
import { MetricNameError } from "./names.ts";
import { registerProcessMetrics } from "./process_metrics.ts";
import { Registry } from "./registry.ts";

/** A registry with one of everything, label values that need escaping included. */
function sample(): Registry {
  const registry = new Registry();
  registerProcessMetrics(registry);
  const commands = registry.counter({
    name: "demo_commands",
    help:
      'Commands received, by name ("echo": any other line).\nSecond line \\ here.',
    labelNames: ["command"],
  });
  commands.inc({ command: "getstatus" }, 3);
  commands.inc({ command: 'odd "name" \\ with\nnewline' });
  registry.gauge({ name: "demo_up", help: "Up." }).set(1);
  const h = registry.histogram({
    name: "demo_request_duration_seconds",
    help: "Request latency.",
    buckets: [0.005, 0.05, 0.5],
  });
  for (const v of [0.001, 0.02, 0.2, 3]) h.observe(v);
  return registry;
}

Deno.test("Registry renders families in registration order", () => {
  const text = sample().render();
  const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) =>
    `${m[1]} ${m[2]}`
  );
  assert.deepEqual(types, [
    "process_start_time_seconds gauge",
    "demo_commands_total counter",
    "demo_up gauge",
    "demo_request_duration_seconds histogram",
  ]);
  const start = Number(/^process_start_time_seconds (\S+)$/m.exec(text)![1]);
  assert.ok(Math.abs(start - Date.now() / 1000) < 3600, `start ${start}`);
});

Deno.test("Registry refuses a name twice, a histogram's series names included", () => {
  const registry = new Registry();
  registry.counter({ name: "a", help: "A." });
  assert.throws(
    () => registry.counter({ name: "a_total", help: "A." }),
    MetricNameError,
  );
  registry.histogram({ name: "h", help: "H.", buckets: [1] });
  assert.throws(
    () => registry.gauge({ name: "h_count", help: "H." }),
    MetricNameError,
  );
});

const PROMTOOL = "/usr/bin/promtool";
const whyNoPromtool = (() => {
  try {
    Deno.statSync(PROMTOOL);
    return undefined;
  } catch {
    return `${PROMTOOL} missing (Debian package prometheus)`;
  }
})();
if (whyNoPromtool !== undefined) {
  // deno-lint-ignore no-console -- the reason a test is skipped must be seen
  console.log(`skipping the promtool check: ${whyNoPromtool}`);
}

Deno.test({
  name: "promtool check metrics accepts the rendering with no lint problems",
  ignore: whyNoPromtool !== undefined,
  fn: async () => {
    const child = new Deno.Command(PROMTOOL, {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(sample().render()));
    await writer.close();
    const { code, stdout, stderr } = await child.output();
    const out = new TextDecoder().decode(stdout) +
      new TextDecoder().decode(stderr);
    assert.equal(code, 0, out);
    assert.equal(out.trim(), "", out);
  },
});
