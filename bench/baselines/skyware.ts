/**
 * The existing TypeScript producer's way of turning the firehose into
 * entries (PublicAppView server/services/firehose.ts): @skyware/firehose
 * decodes each message, the handler builds the entry. Both baselines share
 * it and differ only in how they send XADDs.
 */
import { Firehose } from '@skyware/firehose';
import WebSocket from 'ws';

export interface Entry {
  type: 'commit' | 'identity' | 'account';
  data: unknown;
  seq: string;
}

export function subscribe(relay: string, onEntry: (e: Entry) => void): Firehose {
  const firehose = new Firehose({ relay, ws: WebSocket, autoReconnect: false });
  firehose.on('commit', (commit) => {
    onEntry({
      type: 'commit',
      data: {
        repo: commit.repo,
        ops: commit.ops.map((op) => {
          const base: Record<string, unknown> = { action: op.action, path: op.path };
          if (op.action !== 'delete') {
            base.cid = op.cid?.toString() ?? '';
            base.record = op.record;
          }
          return base;
        }),
      },
      seq: String(commit.seq),
    });
  });
  firehose.on('identity', (e) => onEntry({ type: 'identity', data: { did: e.did, handle: e.handle ?? e.did }, seq: String(e.seq) }));
  firehose.on('account', (e) => onEntry({ type: 'account', data: { did: e.did, active: e.active }, seq: String(e.seq) }));
  firehose.on('error', ({ error }) => console.error('baseline decode error:', error));
  firehose.start();
  return firehose;
}
