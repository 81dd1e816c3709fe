// deno-lint-ignore-file no-console -- a benchmark helper reports on stderr
// The baseline echo server for scripts/bench_echo.ts and
// scripts/bench_idle_conns.ts: Node's `net` echo, as plain as it gets.
//
// Usage: node scripts/node_echo.mjs [PORT]   (default 0: any free port)
// Listens on 127.0.0.1 and prints "listening on 127.0.0.1:PORT" on stderr
// once it accepts. Exits on SIGTERM or SIGINT.
import net from "node:net";

const port = Number(process.argv[2] ?? 0);
const server = net.createServer({ noDelay: true }, (socket) => {
  socket.setNoDelay(true);
  socket.on("data", (d) => socket.write(d));
  socket.on("error", () => socket.destroy());
});
server.on("error", (err) => {
  console.error(`node_echo: ${err.message}`);
  process.exit(1);
});
server.listen({ host: "127.0.0.1", port, backlog: 4096 }, () => {
  console.error(`listening on 127.0.0.1:${server.address().port}`);
});
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => process.exit(0));
}
