/**
 * Real relay frames from Jetstream's corpus against what production
 * Jetstream v1 wrote for the same events (expected_v1.jsonl), plus the
 * curator's per-frame index (frames_index.tsv).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDecoder } from '../src/decoder.js';
import { sha256 } from './support/dag.js';
import { readFrames, readJsonl, readTsv } from './support/fixtures.js';
import { entryData } from './support/synthetic.js';

// Fixture JSON is loosely typed by nature.
type Json = any;

test('jetstream corpus: records, CIDs and identity match Jetstream v1', () => {
  const frames = readFrames('jetstream-corpus/frames.bin');
  const index = readTsv('jetstream-corpus/frames_index.tsv');
  const expected = readJsonl<Json>('jetstream-corpus/expected_v1.jsonl');
  assert.equal(frames.length, 100);
  assert.equal(index.length, 100);
  assert.equal(expected.length, 100);

  const decoder = createDecoder();
  const used = new Set<number>();
  const counts = { create: 0, update: 0, delete: 0, identity: 0 };

  frames.forEach((frame, i) => {
    const row = index[i]!;
    assert.equal(frame.offset, Number(row.offset));
    assert.equal(frame.bytes.length, Number(row.frame_len));
    assert.equal(sha256(frame.bytes).toString('hex'), row.frame_sha256);
    const lines = row.expected_v1_lines!.split(',').map((n) => Number(n) - 1);

    const r = decoder.decode(frame.bytes);
    assert.equal(r.seq, Number(row.seq));
    assert.deepEqual(r.skipped, []);

    if (row.type === '#identity') {
      const data = entryData(r, 'identity');
      const [want] = lines.map((l) => expected[l].identity);
      assert.deepEqual({ did: data.did, seq: r.seq, time: data.time }, { did: want.did, seq: want.seq, time: want.time });
      assert.equal(data.handle, want.handle ?? want.did);
      used.add(lines[0]!);
      counts.identity++;
      return;
    }

    assert.equal(row.type, '#commit');
    const data = entryData(r, 'commit');
    assert.equal(data.repo, row.did);
    assert.equal(data.rev, row.rev);
    assert.equal(data.ops.length, Number(row.n_ops));
    assert.match(data.commit, /^bafyrei[a-z2-7]{52}$/);
    for (const op of data.ops) {
      const [collection, rkey] = op.path.split('/');
      const at = expected.findIndex(
        (e) =>
          e.kind === 'commit' &&
          e.did === data.repo &&
          e.commit.rev === data.rev &&
          e.commit.collection === collection &&
          e.commit.rkey === rkey &&
          e.commit.operation === op.action,
      );
      assert.ok(at >= 0, `no expected line for ${data.repo} ${op.action} ${op.path}`);
      assert.ok(lines.includes(at), `frame ${i}: matched line ${at + 1}, index says ${row.expected_v1_lines}`);
      assert.ok(!used.has(at), `line ${at + 1} matched twice`);
      used.add(at);
      const want = expected[at].commit;
      if (op.action === 'delete') {
        assert.deepEqual(op, { action: 'delete', path: op.path });
      } else {
        assert.deepEqual(op.record, want.record);
        assert.equal(op.cid, want.cid);
      }
      counts[op.action as 'create' | 'update' | 'delete']++;
    }
  });

  assert.deepEqual(counts, { create: 96, update: 1, delete: 2, identity: 1 });
  assert.equal(used.size, 100);
});
