/**
 * Writing a whole buffer through Deno's partial-write `write(p)` contract.
 */

/** Anything with Deno's `write(p)` contract, e.g. a `Deno.Conn`. */
export interface ByteWriter {
  /** Writes some of `p`; resolves to the count written. */
  write(p: Uint8Array): Promise<number>;
}

/** Writes every byte of `bytes`, looping over partial writes. */
export async function writeAll(
  writer: ByteWriter,
  bytes: Uint8Array,
): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    offset += await writer.write(bytes.subarray(offset));
  }
}
