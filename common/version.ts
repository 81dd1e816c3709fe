/**
 * The toolkit's version, read from deno.json so there is one source of truth.
 */
import denoConfig from "../deno.json" with { type: "json" };

/** The version of tcpkit, e.g. `0.1.0`. */
export const VERSION: string = denoConfig.version;
