/**
 * Content-addressed blobs in `meerkat_blobs` (persistence.md §3, interface `BlobStore`): the id is
 * `sha256:<hex>` of the bytes, puts are idempotent (`INSERT … ON CONFLICT DO NOTHING`), deletes are
 * idempotent, and a blob over `MAX_BLOB_BYTES` is refused before touching the database.
 *
 * @example
 * ```ts
 * import { createStores } from './index.js';
 *
 * const { blobs, close } = await createStores({ dataDir: 'memory://' });
 * const id = await blobs.putBlob(new TextEncoder().encode('hello'), 'text/plain');
 * console.log(id); // sha256:2cf24dba…
 * console.log(new TextDecoder().decode((await blobs.getBlob(id)).bytes)); // hello
 * await close();
 * ```
 */
import type { Kysely } from 'kysely';
import { BlobNotFoundError, MAX_BLOB_BYTES, blobIdOf, type BlobStore } from '../kernel/store.js';
import type { Database } from './schema.js';

/** A canonical blob id: `sha256:` and 64 lowercase hex digits. */
const BLOB_ID = /^sha256:[0-9a-f]{64}$/;

/** Thrown by `putBlob` for a blob over {@link MAX_BLOB_BYTES}. */
export class BlobTooLargeError extends Error {
  constructor(readonly size: number) {
    super(`blob of ${size} bytes exceeds the ${MAX_BLOB_BYTES}-byte limit`);
    this.name = 'BlobTooLargeError';
  }
}

export class PostgresBlobStore implements BlobStore {
  constructor(readonly db: Kysely<Database>) {}

  async putBlob(bytes: Uint8Array, mediaType: string): Promise<string> {
    if (bytes.byteLength > MAX_BLOB_BYTES) throw new BlobTooLargeError(bytes.byteLength);
    const blobId = blobIdOf(bytes);
    await this.db
      .insertInto('meerkat_blobs')
      .values({ blob_id: blobId, media_type: mediaType, size: bytes.byteLength, bytes, created_at: Date.now() })
      .onConflict((oc) => oc.column('blob_id').doNothing())
      .execute();
    return blobId;
  }

  /** Throws {@link BlobNotFoundError} for an unknown id (a malformed id is unknown without a query). */
  async getBlob(blobId: string): Promise<{ readonly bytes: Uint8Array; readonly media_type: string }> {
    if (!BLOB_ID.test(blobId)) throw new BlobNotFoundError(blobId);
    const row = await this.db.selectFrom('meerkat_blobs').select(['bytes', 'media_type']).where('blob_id', '=', blobId).executeTakeFirst();
    if (!row) throw new BlobNotFoundError(blobId);
    const b = row.bytes;
    return { bytes: new Uint8Array(b.buffer, b.byteOffset, b.byteLength), media_type: row.media_type };
  }

  async deleteBlob(blobId: string): Promise<void> {
    await this.db.deleteFrom('meerkat_blobs').where('blob_id', '=', blobId).execute();
  }
}
