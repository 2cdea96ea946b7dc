// The official `openai` npm client through `shardlm router` (tests/scripts/test-e2e-router.py
// starts the replicas and the router): JSON and streamed completions and chats, and a
// client abort mid-stream. Environment:
//   SHARDLM_URL            the router's base URL, without /v1 (required)
//   SHARDLM_API_KEY        its key (default test-key)
//   SHARDLM_MODEL_ID       the id /v1/models reports (default stories260K.gguf)
//   SHARDLM_REFERENCE      the greedy completion text of PROMPT (max_tokens 40) from a replica directly
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { APIUserAbortError } from 'openai';

const BASE = process.env.SHARDLM_URL;
if (!BASE) throw new Error('set SHARDLM_URL');
const client = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: process.env.SHARDLM_API_KEY ?? 'test-key', maxRetries: 0, timeout: 120_000 });
const MODEL = process.env.SHARDLM_MODEL_ID ?? 'stories260K.gguf';
const REFERENCE = process.env.SHARDLM_REFERENCE;
const req = { model: MODEL, prompt: 'Once upon a time', max_tokens: 40, temperature: 0 };

test('models are merged', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, [MODEL]);
});

test('a JSON completion through the router is the replica\'s greedy text', async () => {
  const r = await client.completions.create(req);
  assert.equal(r.choices[0].text, REFERENCE);
  assert.equal(r.usage.completion_tokens, 40);
});

test('a streamed completion through the router joins to the same text', async () => {
  const stream = await client.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    if (chunk.choices.length) {
      text += chunk.choices[0].text;
      assert.equal(chunk.choices[0].token_ids, undefined, 'token ids only when asked for');
      finish = chunk.choices[0].finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, REFERENCE);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 40);
});

test('a streamed chat through the router equals the JSON chat', async () => {
  const chat = { model: MODEL, messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 30, temperature: 0 };
  const whole = await client.chat.completions.create(chat);
  const stream = await client.chat.completions.create({ ...chat, stream: true });
  let text = '';
  let role = null;
  for await (const chunk of stream) {
    role = chunk.choices[0]?.delta?.role ?? role;
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(role, 'assistant');
  assert.ok(whole.choices[0].message.content.length > 0);
  assert.equal(text, whole.choices[0].message.content);
});

test('a client abort mid-stream ends the stream', async () => {
  const ac = new AbortController();
  const stream = await client.completions.create({ ...req, max_tokens: 300, ignore_eos: true, stream: true }, { signal: ac.signal });
  let n = 0;
  let finished = false;
  let thrown = null;
  try {
    for await (const chunk of stream) {
      if (chunk.choices[0]?.finish_reason) finished = true;
      if (++n === 3) ac.abort();
    }
  } catch (e) {
    thrown = e;
  }
  // openai v5 ends the iteration quietly on a user abort mid-stream (as in openai-client.test.mjs).
  assert.ok(thrown === null || thrown instanceof APIUserAbortError, `unexpected ${thrown?.constructor?.name}: ${thrown}`);
  assert.ok(n >= 3 && n < 300, `stopped after ${n} chunks`);
  assert.ok(!finished, 'no finish_reason: the stream was cut');
});
