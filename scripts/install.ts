/**
 * `deno task install -- --root DIR` puts tcpservd, tcpcli, iotcpd and
 * takeover in DIR/bin, runnable with no deno on PATH, without this clone,
 * without HOME and without network: monitors run probes under `env -i`, and
 * a probe that cannot start reads as a node that is down.
 *
 * Into DIR/lib/tcpkit/ go the deno binary running this script, the sources
 * the four entry points import (with deno.json and deno.lock) and a
 * node_modules holding @logtape/logtape, made here. DIR/bin/NAME is a /bin/sh
 * wrapper that execs that deno with absolute paths and the permission flags
 * of the deno.json task NAME. A manifest lists everything install wrote;
 * `deno task uninstall -- --root DIR` removes exactly that, and deletes
 * nothing if a file it wrote has changed since.
 *
 * @module
 */
import {
  ExitCode,
  parseCommandLine,
  printErr,
  printOut,
  UsageError,
  VERSION,
} from "../common/mod.ts";

/** The installed commands; each is also the name of its deno.json task. */
export const COMMANDS = ["tcpservd", "tcpcli", "iotcpd", "takeover"] as const;

/** Paths inside the root, as the manifest writes them. */
export const LAYOUT = {
  lib: "lib/tcpkit",
  deno: "lib/tcpkit/deno",
  src: "lib/tcpkit/src",
  // DENO_DIR: transpiled modules and V8's code cache, rewritten by deno at
  // run time, so uninstall removes it whole rather than file by file.
  cache: "lib/tcpkit/deno_dir",
  manifest: "lib/tcpkit/manifest.json",
} as const;

const USAGE = `USAGE:
  deno task install -- --root DIR     tcpservd, tcpcli, iotcpd, takeover in DIR/bin
  deno task uninstall -- --root DIR   remove exactly what install wrote in DIR

  DIR/bin gets four /bin/sh wrappers; DIR/lib/tcpkit gets deno, the sources
  and their npm dependency. They need no deno on PATH, no HOME, no network
  and not this clone. Installing over an earlier install replaces it.
  DIR is absolute and its parent exists. Example: --root /usr/local
`;

const MANIFEST_FORMAT = 1;
// How long one deno run of the install may take (deno install downloads).
const STEP_TIMEOUT_MS = 120_000;
// Far deeper than node_modules nests; a bound for the tree walks.
const MAX_DEPTH = 32;

/** Something in the way is not install's to overwrite or delete. */
export class NotOursError extends Error {
  /** Creates the error; `paths` are relative to the root. */
  constructor(readonly root: string, readonly paths: string[], why: string) {
    super(`${why} (in ${root}): ${paths.join(", ")}`);
    this.name = "NotOursError";
  }
}

/** The manifest is missing, unreadable or not one install wrote. */
export class ManifestError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ManifestError";
  }
}

/** A step of the install failed (a deno run, a copy); nothing is left behind. */
export class InstallStepError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InstallStepError";
  }
}

/** One file or symbolic link install wrote. */
export type ManifestEntry =
  | { path: string; kind: "file"; sha256: string }
  | { path: string; kind: "symlink"; target: string };

/** What install wrote in a root, kept in LAYOUT.manifest. */
export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: string;
  root: string;
  /** Directories install created, parents first ("." is the root itself). */
  dirs: string[];
  entries: ManifestEntry[];
  cache: string;
}

/** What a walk of a tree found, relative to the root. */
interface Tree {
  dirs: string[];
  files: string[];
  links: string[];
}

/** How one command is run: its deno.json task, taken apart. */
interface CommandPlan {
  name: string;
  flags: string[];
  entry: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `a/b/../c` → `a/c`; absolute in, absolute out. */
function normalize(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

function join(root: string, rel: string): string {
  return rel === "." ? root : `${root}/${rel}`;
}

function dirname(rel: string): string {
  const slash = rel.lastIndexOf("/");
  return slash <= 0 ? "." : rel.slice(0, slash);
}

async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

async function sha256Of(path: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    await Deno.readFile(path),
  );
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/** Quotes a word for /bin/sh, only when it needs it (wrappers stay readable). */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The root as an absolute path with its links resolved, so wrappers and the
 * manifest name the same place. Its parent must exist.
 */
export async function resolveRoot(given: string): Promise<string> {
  if (given === "") throw new UsageError("--root is empty");
  // Control characters would break the wrappers' comment lines.
  if ([...given].some((c) => c.charCodeAt(0) < 0x20 || c === "\x7f")) {
    throw new UsageError("--root contains a control character");
  }
  // deno task runs in the project's directory, not where the operator
  // typed the command: a relative path would land in the clone.
  if (!given.startsWith("/")) {
    throw new UsageError(`--root must be an absolute path, not ${given}`);
  }
  const root = await realPathOfNew(normalize(given));
  // tcpservd -w names its workers' config by URL.pathname, which escapes
  // such characters: the workers would not start.
  if (root.includes("%") || new URL(`file://${root}`).pathname !== root) {
    throw new UsageError(
      `--root has a character a file URL escapes (a space, %, #, ?): ${root}`,
    );
  }
  return root;
}

/** `path` with its links resolved; only its last part may be missing. */
async function realPathOfNew(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const slash = path.lastIndexOf("/");
  const parent = path.slice(0, slash) || "/";
  try {
    const real = await Deno.realPath(parent);
    return `${real === "/" ? "" : real}${path.slice(slash)}`;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(`the parent of --root does not exist: ${parent}`);
    }
    throw error;
  }
}

/** The deno.json task NAME as `deno run FLAGS… ENTRY`. */
function planOf(name: string, task: unknown): CommandPlan {
  if (typeof task !== "string") {
    throw new InstallStepError(`deno.json has no task ${name}`);
  }
  const words = task.trim().split(/\s+/);
  const entry = words.at(-1) ?? "";
  const flags = words.slice(2, -1);
  if (
    words[0] !== "deno" || words[1] !== "run" || !entry.endsWith(".ts") ||
    flags.some((flag) => !flag.startsWith("--"))
  ) {
    throw new InstallStepError(
      `task ${name} is not "deno run --FLAG… FILE.ts": ${task}`,
    );
  }
  return { name, flags, entry };
}

/** The /bin/sh wrapper of one command. */
export function wrapperText(root: string, plan: CommandPlan): string {
  const lib = join(root, LAYOUT.lib);
  const run = [
    join(root, LAYOUT.deno),
    "run",
    "--no-prompt",
    "--cached-only",
    "--frozen",
    "--config",
    `${lib}/src/deno.json`,
    ...plan.flags,
    `${lib}/src/${plan.entry}`,
  ].map(shellQuote).join(" ");
  return [
    "#!/bin/sh",
    `# ${plan.name}: tcpkit ${VERSION}; \`deno task uninstall -- --root ${root}\` removes it.`,
    "# Absolute paths and a private DENO_DIR: no deno on PATH, no HOME, no network needed.",
    `DENO_DIR=${shellQuote(join(root, LAYOUT.cache))}`,
    "DENO_NO_UPDATE_CHECK=1",
    "export DENO_DIR DENO_NO_UPDATE_CHECK",
    `exec ${run} "$@"`,
    "",
  ].join("\n");
}

/** Runs the installed deno; its output is returned, its failure thrown. */
async function runDeno(
  root: string,
  args: string[],
  what: string,
): Promise<string> {
  const out = await new Deno.Command(join(root, LAYOUT.deno), {
    args,
    cwd: join(root, LAYOUT.src),
    env: {
      DENO_DIR: join(root, LAYOUT.cache),
      DENO_NO_UPDATE_CHECK: "1",
      NO_COLOR: "1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // A stalled download must not hang the install for ever.
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  }).output();
  if (!out.success) {
    throw new InstallStepError(
      `${what} failed (exit ${out.code}): ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

/** The project's own files the entry points import, relative to `project`. */
async function moduleFiles(
  root: string,
  project: string,
  plans: CommandPlan[],
): Promise<string[]> {
  const files = new Set<string>();
  for (const plan of plans) {
    const text = await runDeno(root, [
      "info",
      "--json",
      "--config",
      `${project}/deno.json`,
      `${project}/${plan.entry}`,
    ], `deno info ${plan.entry}`);
    const info: unknown = JSON.parse(text);
    if (!isRecord(info) || !Array.isArray(info.modules)) {
      throw new InstallStepError(`deno info ${plan.entry}: no module list`);
    }
    for (const module of info.modules) {
      if (!isRecord(module) || typeof module.specifier !== "string") continue;
      if (!module.specifier.startsWith("file:")) continue;
      const local = typeof module.local === "string"
        ? await Deno.realPath(module.local)
        : "";
      if (!local.startsWith(`${project}/`)) {
        throw new InstallStepError(
          `${plan.entry} imports a file outside the project: ${module.specifier}`,
        );
      }
      files.add(local.slice(project.length + 1));
    }
  }
  return [...files].sort();
}

/** Every directory, file and link under `rel` (not following links). */
async function walk(
  root: string,
  rel: string,
  skip: string,
  found: Tree,
  depth = 0,
): Promise<void> {
  if (depth > MAX_DEPTH) {
    throw new InstallStepError(`deeper than ${MAX_DEPTH} levels: ${rel}`);
  }
  found.dirs.push(rel);
  const names: string[] = [];
  for await (const entry of Deno.readDir(join(root, rel))) {
    names.push(entry.name);
  }
  for (const name of names.sort()) {
    const child = `${rel}/${name}`;
    if (child === skip) continue;
    const info = await Deno.lstat(join(root, child));
    if (info.isSymlink) found.links.push(child);
    else if (info.isDirectory) await walk(root, child, skip, found, depth + 1);
    else found.files.push(child);
  }
}

/** Readable (and, for directories and programs, executable) by everyone. */
async function makeReadable(root: string, rel: string): Promise<void> {
  const found: Tree = { dirs: [], files: [], links: [] };
  await walk(root, rel, "", found);
  for (const dir of found.dirs) await Deno.chmod(join(root, dir), 0o755);
  for (const file of found.files) {
    const path = join(root, file);
    const mode = (await Deno.lstat(path)).mode ?? 0o644;
    await Deno.chmod(path, (mode & 0o111) !== 0 ? 0o755 : 0o644);
  }
}

async function copyInto(
  from: string,
  root: string,
  rel: string,
  mode: number,
): Promise<void> {
  await Deno.mkdir(join(root, dirname(rel)), { recursive: true });
  await Deno.copyFile(from, join(root, rel));
  await Deno.chmod(join(root, rel), mode);
}

/**
 * Installs into `root` from the project at `project`; returns the manifest.
 * On failure everything written so far is removed again.
 */
export async function install(
  root: string,
  project: string,
): Promise<Manifest> {
  const configText = await Deno.readTextFile(`${project}/deno.json`);
  const config: unknown = JSON.parse(configText);
  if (!isRecord(config) || !isRecord(config.tasks)) {
    throw new InstallStepError(`${project}/deno.json has no tasks`);
  }
  const tasks = config.tasks;
  const plans = COMMANDS.map((name) => planOf(name, tasks[name]));

  if (await lstatOrNull(join(root, LAYOUT.manifest)) !== null) {
    printOut(`replacing the tcpkit installed in ${root}\n`);
    printKept(root, await uninstall(root));
  }
  const inTheWay: string[] = [];
  for (const rel of [LAYOUT.lib, ...plans.map((p) => `bin/${p.name}`)]) {
    if (await lstatOrNull(join(root, rel)) !== null) inTheWay.push(rel);
  }
  if (inTheWay.length > 0) {
    throw new NotOursError(
      root,
      inTheWay,
      "install did not write these and will not replace them",
    );
  }

  const createdDirs: string[] = [];
  const wrappers: string[] = [];
  try {
    for (const rel of [".", "bin", "lib", LAYOUT.lib]) {
      const info = await lstatOrNull(join(root, rel));
      if (info !== null) {
        if (!info.isDirectory) {
          throw new NotOursError(root, [rel], "not a directory");
        }
        continue;
      }
      await Deno.mkdir(join(root, rel));
      await Deno.chmod(join(root, rel), 0o755);
      createdDirs.push(rel);
    }
    await copyInto(Deno.execPath(), root, LAYOUT.deno, 0o755);
    // Deno is MIT too: its notice travels with the copy when it sits beside it.
    const denoLicense = `${dirname(Deno.execPath())}/LICENSE`;
    if ((await lstatOrNull(denoLicense))?.isFile) {
      await copyInto(denoLicense, root, `${LAYOUT.lib}/LICENSE.deno`, 0o644);
    }
    await Deno.mkdir(join(root, LAYOUT.src));
    await Deno.mkdir(join(root, LAYOUT.cache));

    const files = await moduleFiles(root, project, plans);
    for (const file of files) {
      if (file === "deno.json") continue;
      await copyInto(
        `${project}/${file}`,
        root,
        `${LAYOUT.src}/${file}`,
        0o644,
      );
    }
    await copyInto(
      `${project}/deno.lock`,
      root,
      `${LAYOUT.src}/deno.lock`,
      0o644,
    );
    if ((await lstatOrNull(`${project}/LICENSE`))?.isFile) {
      await copyInto(
        `${project}/LICENSE`,
        root,
        `${LAYOUT.src}/LICENSE`,
        0o644,
      );
    }
    // "manual": the installed commands (and tcpservd's workers, which get
    // this config) read the node_modules made below and never a registry,
    // whatever HOME/.npmrc or NPM_CONFIG_REGISTRY say.
    await Deno.writeTextFile(
      join(root, `${LAYOUT.src}/deno.json`),
      `${JSON.stringify({ ...config, nodeModulesDir: "manual" }, null, 2)}\n`,
    );
    await runDeno(root, [
      "install",
      "--entrypoint",
      "--node-modules-dir=auto",
      "--frozen",
      "--config",
      join(root, `${LAYOUT.src}/deno.json`),
      ...plans.map((p) => join(root, `${LAYOUT.src}/${p.entry}`)),
    ], "deno install (the npm dependency, into node_modules)");
    // The download itself: node_modules has its own copy now.
    await Deno.remove(join(root, `${LAYOUT.cache}/npm`), { recursive: true })
      .catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });

    for (const plan of plans) {
      const rel = `bin/${plan.name}`;
      await Deno.writeTextFile(join(root, rel), wrapperText(root, plan), {
        createNew: true,
        mode: 0o755,
      });
      wrappers.push(rel);
      await Deno.chmod(join(root, rel), 0o755);
    }
    await verify(root, plans);
    await makeReadable(root, LAYOUT.lib);

    const found: Tree = { dirs: [], files: [], links: [] };
    await walk(root, LAYOUT.lib, LAYOUT.cache, found);
    const entries: ManifestEntry[] = [];
    for (const file of [...found.files, ...wrappers]) {
      entries.push({
        path: file,
        kind: "file",
        sha256: await sha256Of(join(root, file)),
      });
    }
    for (const link of found.links) {
      entries.push({
        path: link,
        kind: "symlink",
        target: await Deno.readLink(join(root, link)),
      });
    }
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      version: VERSION,
      root,
      dirs: [...createdDirs.filter((d) => d !== LAYOUT.lib), ...found.dirs],
      entries,
      cache: LAYOUT.cache,
    };
    await Deno.writeTextFile(
      join(root, LAYOUT.manifest),
      `${JSON.stringify(manifest, null, 1)}\n`,
      { createNew: true, mode: 0o644 },
    );
    await Deno.chmod(join(root, LAYOUT.manifest), 0o644);
    return manifest;
  } catch (error) {
    // Everything here is this run's (the checks above found none of it).
    // Best effort: the error that brought us here is the one to report.
    const undo = (rel: string, recursive = false) =>
      Deno.remove(join(root, rel), { recursive }).catch(() => {});
    for (const rel of wrappers) await undo(rel);
    if (createdDirs.includes(LAYOUT.lib)) await undo(LAYOUT.lib, true);
    for (const rel of createdDirs.filter((d) => d !== LAYOUT.lib).reverse()) {
      await undo(rel);
    }
    throw error;
  }
}

/**
 * Runs every wrapper as a monitor would (no environment but PATH, from /),
 * which also fills the cache of transpiled modules for the real runs.
 */
async function verify(root: string, plans: CommandPlan[]): Promise<void> {
  for (const plan of plans) {
    const out = await new Deno.Command(join(root, `bin/${plan.name}`), {
      args: ["--version"],
      cwd: "/",
      clearEnv: true,
      env: { PATH: "/usr/bin:/bin" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    if (!out.success || !stdout.startsWith(`${plan.name} ${VERSION}`)) {
      throw new InstallStepError(
        `bin/${plan.name} --version under env -i failed (exit ${out.code}): ${stdout}${
          new TextDecoder().decode(out.stderr)
        }`,
      );
    }
  }
}

/** A path from the manifest, checked to stay where install writes. */
function checkedPath(rel: unknown, dirsToo: boolean): string {
  if (typeof rel !== "string") throw new ManifestError("a path is not text");
  const parts = rel.split("/");
  const plain = parts.every((p) => p !== "" && p !== "." && p !== "..");
  const ok = (dirsToo && [".", "bin", "lib"].includes(rel)) ||
    (plain && rel.startsWith("bin/") && parts.length === 2) ||
    (plain && (rel === LAYOUT.lib || rel.startsWith(`${LAYOUT.lib}/`)));
  if (!ok) throw new ManifestError(`a path install never writes: ${rel}`);
  return rel;
}

/** Reads and checks the manifest of `root`. */
export async function readManifest(root: string): Promise<Manifest> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(root, LAYOUT.manifest));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new ManifestError(
        `no tcpkit install in ${root} (no ${LAYOUT.manifest})`,
      );
    }
    throw error;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`${LAYOUT.manifest} is not JSON`, {
      cause: error,
    });
  }
  if (
    !isRecord(data) || data.format !== MANIFEST_FORMAT ||
    typeof data.version !== "string" || typeof data.root !== "string" ||
    !Array.isArray(data.dirs) || !Array.isArray(data.entries) ||
    data.cache !== LAYOUT.cache
  ) {
    throw new ManifestError(`${LAYOUT.manifest} is not an install manifest`);
  }
  const entries: ManifestEntry[] = data.entries.map((entry: unknown) => {
    if (!isRecord(entry)) throw new ManifestError("an entry is not an object");
    const path = checkedPath(entry.path, false);
    if (entry.kind === "file" && typeof entry.sha256 === "string") {
      return { path, kind: "file", sha256: entry.sha256 };
    }
    if (entry.kind === "symlink" && typeof entry.target === "string") {
      return { path, kind: "symlink", target: entry.target };
    }
    throw new ManifestError(`a malformed entry: ${path}`);
  });
  return {
    format: MANIFEST_FORMAT,
    version: data.version,
    root: data.root,
    dirs: data.dirs.map((dir: unknown) => checkedPath(dir, true)),
    entries,
    cache: LAYOUT.cache,
  };
}

/** What uninstall did. */
export interface UninstallReport {
  removed: number;
  /** Directories kept because something install did not write is inside. */
  kept: string[];
}

/**
 * Removes what install wrote in `root`. Everything is checked first: if a
 * file install wrote has changed (or a directory became a link), nothing is
 * deleted. What install did not write is never deleted; the directories
 * holding it stay.
 */
export async function uninstall(root: string): Promise<UninstallReport> {
  const manifest = await readManifest(root);
  if (manifest.root !== root) {
    throw new ManifestError(
      `the manifest is for ${manifest.root}, not ${root}; the tree was moved`,
    );
  }
  const changed: string[] = [];
  for (const entry of manifest.entries) {
    const path = join(root, entry.path);
    const info = await lstatOrNull(path);
    if (info === null) continue;
    const same = entry.kind === "file"
      ? info.isFile && await sha256Of(path) === entry.sha256
      : info.isSymlink && await Deno.readLink(path) === entry.target;
    if (!same) changed.push(entry.path);
  }
  for (const dir of [...manifest.dirs, manifest.cache]) {
    const info = await lstatOrNull(join(root, dir));
    if (info !== null && !info.isDirectory) changed.push(dir);
  }
  if (changed.length > 0) {
    throw new NotOursError(
      root,
      changed,
      "changed since install, so uninstall deleted nothing",
    );
  }

  let removed = 0;
  for (const entry of manifest.entries) {
    try {
      await Deno.remove(join(root, entry.path));
      removed++;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  await Deno.remove(join(root, LAYOUT.manifest));
  await Deno.remove(join(root, manifest.cache), { recursive: true }).catch(
    (error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    },
  );
  const kept: string[] = [];
  const deepestFirst = [...manifest.dirs].sort((a, b) =>
    (b === "." ? 0 : b.split("/").length) -
    (a === "." ? 0 : a.split("/").length)
  );
  for (const dir of deepestFirst) {
    try {
      await Deno.remove(join(root, dir));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      // Not empty: what is left there is not install's.
      kept.push(dir);
    }
  }
  return { removed, kept };
}

function printKept(root: string, report: UninstallReport): void {
  for (const dir of report.kept) {
    printOut(`kept ${join(root, dir)}: it holds files install did not write\n`);
  }
}

/** The command line: `install|uninstall [--] --root DIR`. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === "-h" || command === "--help") {
    printOut(USAGE);
    return ExitCode.OK;
  }
  // `deno task install -- --root DIR` hands the `--` on.
  if (rest[0] === "--") rest.shift();
  try {
    const { values, positionals } = parseCommandLine(rest, {
      root: { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) {
      printOut(USAGE);
      return ExitCode.OK;
    }
    if (command !== "install" && command !== "uninstall") {
      throw new UsageError(
        command === undefined
          ? "give install or uninstall"
          : `give install or uninstall, not ${command}`,
      );
    }
    if (positionals.length > 0) {
      throw new UsageError(`unexpected argument: ${positionals[0]}`);
    }
    if (values.root === undefined) {
      throw new UsageError("give --root DIR (e.g. --root /usr/local)");
    }
    const root = await resolveRoot(values.root);
    if (command === "install") {
      const here = new URL("../", import.meta.url);
      if (here.protocol !== "file:") {
        throw new InstallStepError(`run install from a clone, not ${here}`);
      }
      const project = await Deno.realPath(decodeURIComponent(here.pathname));
      const manifest = await install(root, project);
      printOut(
        `installed ${
          COMMANDS.join(", ")
        } in ${root}/bin (tcpkit ${VERSION}, deno ${Deno.version.deno}; ${manifest.entries.length} files; uninstall: deno task uninstall -- --root ${root})\n`,
      );
    } else {
      const report = await uninstall(root);
      printOut(`removed ${report.removed} files from ${root}\n`);
      printKept(root, report);
    }
    return ExitCode.OK;
  } catch (error) {
    if (error instanceof UsageError) {
      printErr(`${command ?? "install"}: ${error.message}\n${USAGE}`);
      return ExitCode.USAGE;
    }
    if (
      error instanceof NotOursError || error instanceof ManifestError ||
      error instanceof InstallStepError
    ) {
      printErr(`${command}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
