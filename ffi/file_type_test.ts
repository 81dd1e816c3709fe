import assert from "node:assert/strict";
import { HAS_CC, runCProbe } from "../tests/_kit.ts";
import { ErrnoError } from "./errno.ts";
import {
  AT_FDCWD,
  AT_SYMLINK_NOFOLLOW,
  fileTypeAt,
  S_IFMT,
  STATX_TYPE,
} from "./file_type.ts";

Deno.test("fileTypeAt() tells sockets, files, directories and links apart, and null for nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcpkit_file_type_" });
  try {
    await Deno.writeTextFile(`${dir}/file`, "data");
    await Deno.mkdir(`${dir}/dir`);
    await Deno.symlink(`${dir}/file`, `${dir}/link`);
    await Deno.symlink(`${dir}/missing`, `${dir}/dangling`);
    using listener = Deno.listen({ transport: "unix", path: `${dir}/sock` });
    assert.equal(fileTypeAt(`${dir}/file`), "regular file");
    assert.equal(fileTypeAt(`${dir}/dir`), "directory");
    // Not followed: a link to a file is a link.
    assert.equal(fileTypeAt(`${dir}/link`), "symbolic link");
    assert.equal(fileTypeAt(`${dir}/dangling`), "symbolic link");
    assert.equal(fileTypeAt(listener.addr.path), "socket");
    assert.equal(fileTypeAt("/dev/null"), "character device");
    assert.equal(fileTypeAt(`${dir}/missing`), null);
    assert.throws(
      () => fileTypeAt(`${dir}/file/below`),
      (error: unknown) =>
        error instanceof ErrnoError && error.code === "ENOTDIR",
    );
    assert.throws(() => fileTypeAt("/tmp/a\0b"), TypeError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "fileTypeAt()'s constants and struct statx offsets match the C headers",
  ignore: !HAS_CC,
  async fn() {
    const probe = [
      "#define _GNU_SOURCE",
      "#include <stdio.h>",
      "#include <stddef.h>",
      "#include <fcntl.h>",
      "#include <sys/stat.h>",
      "int main(void) {",
      '  printf("%d %d %u %u %zu %zu\\n", AT_FDCWD, AT_SYMLINK_NOFOLLOW,',
      "    STATX_TYPE, S_IFMT, sizeof(struct statx),",
      "    offsetof(struct statx, stx_mode));",
      "  return 0;",
      "}",
    ].join("\n");
    const stdout = await runCProbe(probe);
    assert.equal(
      stdout.trim(),
      `${AT_FDCWD} ${AT_SYMLINK_NOFOLLOW} ${STATX_TYPE} ${S_IFMT} 256 28`,
    );
  },
});
