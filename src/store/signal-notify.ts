/**
 * Wakes a {@link SignalFeed} when another connection commits outbox signals: one dedicated `pg`
 * client per store runs `LISTEN meerkat_signals` (migration 0004's trigger notifies that channel
 * at COMMIT of every transaction that inserted signals) and calls `onWake` per notification.
 *
 * When the connection drops it reconnects with back-off (100 ms doubling, capped at 5 s) and wakes
 * once after every (re)connect, since notifications sent while it was away are lost; the feed's
 * slow fallback poll covers the window in between.
 *
 * @example
 * ```ts
 * const listener = await SignalNotifications.start(process.env.DATABASE_URL!, () => feed.wake());
 * // …
 * await listener.close();
 * ```
 */
import pg from 'pg';
import { SIGNAL_CHANNEL } from './migrations/0004_signal_notify.js';

export interface SignalNotificationsOptions {
  /** Receives connection failures (the listener keeps reconnecting). Default: stderr. */
  readonly onError?: (error: unknown) => void;
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;

export class SignalNotifications {
  private client: pg.Client | null = null;
  private closed = false;
  private backoffMs = MIN_BACKOFF_MS;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly onError: (error: unknown) => void;
  /** Notifications received (for tests and diagnostics). */
  notifications = 0;

  private constructor(
    private readonly url: string,
    private readonly onWake: () => void,
    options: SignalNotificationsOptions,
  ) {
    this.onError =
      options.onError ?? ((e) => console.error(`meerkat store: signal listener: ${e instanceof Error ? e.message : String(e)}`));
  }

  /** Connects and listens; resolves once `LISTEN` is in place (rejects when the first connect fails). */
  static async start(url: string, onWake: () => void, options: SignalNotificationsOptions = {}): Promise<SignalNotifications> {
    const n = new SignalNotifications(url, onWake, options);
    await n.connect();
    return n;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url });
    client.on('notification', (msg) => {
      if (msg.channel !== SIGNAL_CHANNEL) return;
      this.notifications += 1;
      this.onWake();
    });
    client.on('error', (e) => {
      this.onError(e);
      this.lost(client);
    });
    client.on('end', () => this.lost(client));
    await client.connect();
    try {
      await client.query(`LISTEN ${SIGNAL_CHANNEL}`);
    } catch (e) {
      await client.end().catch(() => undefined);
      throw e;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.backoffMs = MIN_BACKOFF_MS;
    this.onWake(); // signals committed while nobody listened
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = null;
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect().catch((e: unknown) => {
        this.onError(e);
        this.scheduleReconnect();
      });
    }, delay);
  }

  /** Stops listening and closes the connection. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const c = this.client;
    this.client = null;
    if (c) await c.end().catch(() => undefined);
  }
}
