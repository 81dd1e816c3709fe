import assert from "node:assert/strict";
import { parseCidrList } from "../common/cidr.ts";
import { type ControlCommand, ControlPolicy } from "./control_policy.ts";

Deno.test("ControlPolicy by default: fault from loopback only, the rest from anyone", () => {
  const policy = new ControlPolicy();
  assert.equal(policy.refusal("fault", "127.0.0.1"), undefined);
  assert.equal(policy.refusal("fault", "::1"), undefined);
  assert.equal(policy.refusal("fault", "::ffff:127.0.0.1"), undefined);
  assert.equal(
    policy.refusal("fault", "192.0.2.7"),
    "ERR fault commands are not allowed from 192.0.2.7\n",
  );
  for (const command of ["setbad", "setgood", "startloop"] as const) {
    assert.equal(policy.refusal(command, "192.0.2.7"), undefined, command);
  }
  assert.ok(policy.isController("127.0.0.1"));
  assert.ok(!policy.isController("192.0.2.7"));
});

Deno.test("ControlPolicy with controlFrom: every control command from those ranges only", () => {
  const policy = new ControlPolicy({
    controlFrom: parseCidrList("192.0.2.0/24"),
  });
  for (const command of ["setbad", "setgood", "startloop", "fault"] as const) {
    assert.equal(policy.refusal(command, "192.0.2.9"), undefined, command);
    assert.match(
      policy.refusal(command, "127.0.0.1")!,
      /^ERR .* not allowed from 127\.0\.0\.1\n$/,
    );
  }
  assert.equal(
    policy.refusal("setbad", "198.51.100.1"),
    "ERR setbad is not allowed from 198.51.100.1\n",
  );
  assert.match(policy.describe(), /from 192\.0\.2\.0\/24 only/);
});

Deno.test("ControlPolicy read-only refuses every control command, loopback included", () => {
  const policy = new ControlPolicy({ readOnly: true });
  for (const command of ["setbad", "setgood", "startloop", "fault"] as const) {
    assert.match(
      policy.refusal(command, "127.0.0.1")!,
      /^ERR .* not allowed: read-only server\n$/,
    );
  }
  assert.ok(!policy.isController("127.0.0.1"));
});

Deno.test("ControlPolicy.isControl() names the state-changing commands", () => {
  for (const name of ["setbad", "setgood", "startloop", "fault"]) {
    assert.ok(ControlPolicy.isControl(name), name);
  }
  for (
    const name of ["getstatus", "hostname", "version", "help", "quit", "echo"]
  ) {
    assert.ok(!ControlPolicy.isControl(name), name);
  }
});

Deno.test("ControlPolicy.check() passes reading commands and refuses control ones by address", () => {
  const policy = new ControlPolicy();
  const remote: Deno.NetAddr = {
    transport: "tcp",
    hostname: "192.0.2.7",
    port: 4000,
  };
  const conn = {};
  assert.equal(policy.check("getstatus", remote, conn), undefined);
  assert.equal(policy.check("setbad", remote, conn), undefined);
  assert.equal(
    policy.check("fault", remote, conn),
    "ERR fault commands are not allowed from 192.0.2.7\n",
  );
  // The second refusal on the same connection is refused just the same.
  assert.equal(
    policy.check("fault", remote, conn),
    "ERR fault commands are not allowed from 192.0.2.7\n",
  );
});

Deno.test("ControlPolicy decides on the agent commands as on setgood", () => {
  for (const command of ["setdrain", "setready", "setweight", "setmaxconn"]) {
    assert.ok(ControlPolicy.isControl(command), command);
    assert.equal(
      new ControlPolicy().refusal(command as ControlCommand, "192.0.2.7"),
      undefined,
    );
    assert.equal(
      new ControlPolicy({ readOnly: true }).refusal(
        command as ControlCommand,
        "127.0.0.1",
      ),
      `ERR ${command} is not allowed: read-only server\n`,
    );
  }
});
