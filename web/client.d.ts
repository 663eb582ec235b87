// Types for the wshub browser client (web/client.js, served at /client.js).
// Semantics and examples: docs/clients.md.

export declare const VERSION: string;

export declare const State: {
  readonly CONNECTING: 'connecting';
  readonly CONNECTED: 'connected';
  readonly RECONNECTING: 'reconnecting';
  readonly CLOSED: 'closed';
};
export type ConnectionState = (typeof State)[keyof typeof State];

/** Close codes after which the client does not retry: 4001 (unauthorized), 1008 (policy). */
export declare const NO_RETRY_CODES: readonly number[];

/** Any value JSON can carry. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface ClientOptions {
  /** ws:// or wss:// URL of the hub's /ws; default: /ws of the page's own host. */
  url?: string;
  /** Token sent as the first frame ({type:"auth"}); a function is called before every connect. */
  token?: string | (() => string | Promise<string>);
  /** Send the token as ?token= in the URL instead of an auth frame. */
  tokenInQuery?: boolean;
  /** First backoff ceiling in ms (default 500). */
  initialDelay?: number;
  /** Backoff cap in ms (default 30000). */
  maxDelay?: number;
  /** ms from opening the socket to the hub's welcome before retrying (default 10000). */
  connectTimeout?: number;
  /** Publishes (and offline acks) that may wait for an answer at once (default 1000). */
  queueLimit?: number;
  /** Heartbeat interval in ms for dead-link detection; default the hub's, 0 = off. */
  heartbeat?: number | null;
  /** Keep resume positions in sessionStorage (true) or in the given storage, so a reload resumes. */
  persist?: boolean | Pick<Storage, 'getItem' | 'setItem'>;
  /** Storage key (default "wshub:" + url). */
  persistKey?: string;
  /** Close codes that end the client instead of retrying (default NO_RETRY_CODES). */
  noRetryCodes?: number[];
  /** Connect at construction (default true). */
  connect?: boolean;
  /** WebSocket implementation, for runtimes without a global one. */
  WebSocket?: unknown;
  /** Random source in [0, 1) for the jitter (default Math.random). */
  random?: () => number;
}

export interface Message<T = Json> {
  channel: string;
  offset: number;
  /** ms since the Unix epoch when the hub accepted the publish. */
  ts: number;
  data: T;
  /** The publisher's request id, when it gave one. */
  id?: string | number;
  /** The publisher asked for receipts: call ack() once the message is handled. */
  receipts: boolean;
  ack(): void;
}

export interface Published {
  channel: string;
  offset: number;
  id: string;
  /** The idempotency key was already used: this is the original publish's offset. */
  duplicate: boolean;
}

export interface Receipt {
  id: string;
  channel: string;
  offset: number;
  /** Id of the client that acked. */
  client: string;
}

export interface PublishOptions {
  receipts?: boolean;
  receiptTimeout?: number;
  onReceipt?: (r: Receipt) => void;
  idempotencyKey?: string;
}

export interface SubscribeOptions {
  /** On the first subscribe (not when resuming), the last N kept messages first. */
  history?: number;
}

export interface Position {
  offset: number;
  epoch: string;
}

/** One entry of a presence list: a subscribed connection's id and, if it authenticated, its token's `sub`. */
export interface PresenceEntry {
  client: string;
  user?: string;
}

/** The hub's answer to presence(channel) (docs/presence.md). */
export interface Presence {
  channel: string;
  /** Entries listed on the channel, always the full number (even when truncated). */
  count: number;
  /** The list was cut to fit the hub's answer budget; count still says how many there are. */
  truncated: boolean;
  /** In no promised order. */
  clients: PresenceEntry[];
}

/** Another connection joined (subscribed to) or left a presence channel this client is on. */
export interface PresenceEvent extends PresenceEntry {
  channel: string;
}

export interface StateEvent {
  state: ConnectionState;
  previous: ConnectionState;
  attempt?: number;
  delay?: number;
  code?: number;
  reason?: string;
  client?: string;
  heartbeat?: number;
}

export interface SubscribedEvent {
  channel: string;
  offset: number;
  epoch: string;
  recovered: boolean;
  /** The offset the client resumed from, or null for a fresh subscribe. */
  since: number | null;
}

export interface ErrorEvent {
  code: string;
  message?: string;
  id?: string | number;
  error?: unknown;
}

export interface EventMap {
  state: StateEvent;
  connecting: Partial<StateEvent>;
  connected: { client: string; heartbeat: number };
  reconnecting: { attempt: number; delay: number; code: number; reason: string };
  retry: { attempt: number; delay: number; code: number; reason: string };
  closed: { code: number; reason: string };
  subscribed: SubscribedEvent;
  /** A resubscribe with `since` was answered; recovered:false means a gap the hub could not fill. */
  recovered: SubscribedEvent;
  message: Message;
  receipt: Receipt;
  /** The hub accepted the token (on every connect, and after a refresh). */
  authed: { user?: string; exp?: number };
  error: ErrorEvent;
  /** Another connection subscribed to a presence channel this client is on. */
  join: PresenceEvent;
  /** Another connection left (unsubscribed, disconnected) a presence channel this client is on. */
  leave: PresenceEvent;
  [other: string]: unknown;
}

export declare class WshubError extends Error {
  code: string;
  constructor(code: string, message?: string);
}

export declare class WshubClient {
  constructor(options?: ClientOptions);
  readonly url: string;
  readonly state: ConnectionState;
  /** This connection's id from the hub's welcome, or null before the first. */
  readonly clientId: string | null;
  /** The token's subject from the hub's `authed`, or null. */
  readonly user: string | null;
  /** Publishes waiting for their answer. */
  readonly pending: number;
  on<K extends keyof EventMap>(event: K, fn: (detail: EventMap[K]) => void): () => void;
  off<K extends keyof EventMap>(event: K, fn: (detail: EventMap[K]) => void): void;
  once<K extends keyof EventMap>(event: K, fn: (detail: EventMap[K]) => void): () => void;
  subscribe<T = Json>(channel: string, handler?: (msg: Message<T>) => void, opts?: SubscribeOptions): () => void;
  unsubscribe(channel: string): void;
  position(channel: string): Position | null;
  publish(channel: string, data: Json, opts?: PublishOptions): Promise<Published>;
  ack(channel: string, offset: number): void;
  ping(): Promise<number>;
  /**
   * Who is on channel. Waits for the connection if there is none; rejects with a WshubError
   * (code presence_disabled, forbidden, bad_channel, queue_full, closed, ...).
   */
  presence(channel: string): Promise<Presence>;
  /** Starts connecting, for a client made with { connect: false }. */
  connect(): void;
  reconnect(): void;
  close(code?: number, reason?: string): void;
}

export declare function backoffDelay(attempt: number, initialDelay?: number, maxDelay?: number,
  rand?: () => number): number;
export declare function defaultUrl(loc?: { protocol: string; host: string }): string;
export declare function connect(options?: ClientOptions): WshubClient;
export default WshubClient;
