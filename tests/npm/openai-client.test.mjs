// The official `openai` npm client against a running shardlm server: completions, chat,
// streaming, models, error mapping and aborts. Run by tests/scripts/test-e2e-openai-npm.sh
// (which starts the server with --api-key test-key); by hand:
//   SHARDLM_URL=http://127.0.0.1:8080 node --test openai-client.test.mjs
// Environment:
//   SHARDLM_URL            server base URL, without /v1 (required)
//   SHARDLM_API_KEY        the key the server was started with (default test-key)
//   SHARDLM_MODEL_ID       the id /v1/models reports (default stories260K.gguf)
//   SHARDLM_EXPECTED_FILE  optional: the reference greedy story of "Once upon a time";
//                          when set, the greedy completion must be a prefix of its continuation
// Only node:test and node:assert besides `openai`. The tests in this file run one after
// another (node:test's default inside a file), so the server sees one request at a time
// except where a test says otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI, { APIUserAbortError, AuthenticationError, BadRequestError } from 'openai';

const BASE = process.env.SHARDLM_URL;
if (!BASE) throw new Error('set SHARDLM_URL (e.g. http://127.0.0.1:8080)');
const KEY = process.env.SHARDLM_API_KEY ?? 'test-key';
const MODEL = process.env.SHARDLM_MODEL_ID ?? 'stories260K.gguf';
const PROMPT = 'Once upon a time';
const EXPECTED = process.env.SHARDLM_EXPECTED_FILE ? readFileSync(process.env.SHARDLM_EXPECTED_FILE, 'utf8') : null;

// maxRetries 0: a 5xx or a dropped connection must fail the test, not be retried away.
const client = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: KEY, maxRetries: 0, timeout: 120_000 });

const greedyCompletion = { model: MODEL, prompt: PROMPT, max_tokens: 20, temperature: 0 };
const greedyChat = {
  model: MODEL,
  messages: [{ role: 'user', content: 'Tell me a story' }],
  max_tokens: 20,
  temperature: 0,
};

// Checks the shape of a usage object; `completion` is the exact completion token count
// when the request could not stop early.
function checkUsage(usage, completion) {
  assert.ok(usage, 'usage present');
  assert.ok(Number.isInteger(usage.prompt_tokens) && usage.prompt_tokens > 0, `prompt_tokens ${usage.prompt_tokens}`);
  assert.ok(Number.isInteger(usage.completion_tokens) && usage.completion_tokens >= 1,
    `completion_tokens ${usage.completion_tokens}`);
  if (completion !== undefined) assert.equal(usage.completion_tokens, completion);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
}

// Resolves to the error a promise rejects with (fails if it resolves).
async function rejection(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('the request succeeded; an error was expected');
}

// The number of requests the server is working on (/admin/status; the admin routes take
// the API key when no separate admin key is set).
async function activeRequests() {
  const r = await fetch(`${BASE}/admin/status`, { headers: { Authorization: `Bearer ${KEY}` } });
  assert.equal(r.status, 200, '/admin/status answers');
  return (await r.json()).requests.active;
}

// Requests the server ended because their client went away (/metrics).
async function abortedRequests() {
  const r = await fetch(`${BASE}/metrics`, { headers: { Authorization: `Bearer ${KEY}` } });
  assert.equal(r.status, 200, '/metrics answers');
  const m = (await r.text()).match(/^shardlm_requests_finished_total\{reason="abort"\} (\S+)$/m);
  return m ? Number(m[1]) : 0;
}

async function waitIdle(ms) {
  const deadline = Date.now() + ms;
  let active;
  while (Date.now() < deadline) {
    active = await activeRequests();
    if (active === 0) return 0;
    await new Promise((r) => setTimeout(r, 200));
  }
  return active;
}

let greedyText = null;  // the non-streamed greedy completion, for the streamed one to match

test('models.list() contains the model', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes(MODEL), `models: ${JSON.stringify(ids)}`);
});

test('completions.create: greedy, max_tokens 20', async () => {
  const r = await client.completions.create(greedyCompletion);
  assert.equal(r.object, 'text_completion');
  assert.equal(typeof r.id, 'string');
  assert.equal(r.choices.length, 1);
  const c = r.choices[0];
  assert.equal(c.index, 0);
  assert.equal(typeof c.text, 'string');
  assert.ok(c.text.length > 0, 'text non-empty');
  assert.equal(c.finish_reason, 'length');
  // "Once upon a time" is 4 tokens plus BOS in the stories260K vocabulary.
  checkUsage(r.usage, 20);
  assert.equal(r.usage.prompt_tokens, 5);
  if (EXPECTED) {
    const continuation = EXPECTED.slice(PROMPT.length);
    assert.ok(continuation.startsWith(c.text), `greedy text ${JSON.stringify(c.text)} is the reference story`);
  }
  greedyText = c.text;
});

test('completions streaming with stream_options.include_usage', async () => {
  const stream = await client.completions.create({ ...greedyCompletion, stream: true,
    stream_options: { include_usage: true } });
  let text = '';
  const finishes = [];
  const usages = [];
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'text_completion');
    for (const c of chunk.choices) {
      text += c.text;
      if (c.finish_reason) finishes.push(c.finish_reason);
    }
    if (chunk.usage) {
      assert.equal(chunk.choices.length, 0, 'the usage chunk has no choices');
      usages.push(chunk.usage);
    }
  }
  assert.ok(chunks > 2, `${chunks} chunks`);
  assert.deepEqual(finishes, ['length']);
  assert.equal(usages.length, 1, 'exactly one usage chunk');
  checkUsage(usages[0], 20);
  assert.ok(greedyText !== null, 'the non-streamed completion ran');
  assert.equal(text, greedyText, 'streamed text equals the non-streamed text');
});

let chatContent = null;
let chatFinish = null;

test('chat.completions.create, not streamed', async () => {
  const r = await client.chat.completions.create(greedyChat);
  assert.equal(r.object, 'chat.completion');
  assert.equal(typeof r.id, 'string');
  assert.equal(r.choices.length, 1);
  const c = r.choices[0];
  assert.equal(c.message.role, 'assistant');
  assert.equal(typeof c.message.content, 'string');
  assert.ok(['length', 'stop'].includes(c.finish_reason), `finish_reason ${c.finish_reason}`);
  checkUsage(r.usage, c.finish_reason === 'length' ? 20 : undefined);
  chatContent = c.message.content;
  chatFinish = c.finish_reason;
});

test('chat.completions streaming equals the non-streamed answer', async () => {
  const stream = await client.chat.completions.create({ ...greedyChat, stream: true });
  let content = '';
  let first = true;
  const finishes = [];
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.choices.length === 0) continue;
    const c = chunk.choices[0];
    if (first) {
      assert.equal(c.delta.role, 'assistant', 'the first delta carries the role');
      first = false;
    }
    content += c.delta.content ?? '';
    if (c.finish_reason) finishes.push(c.finish_reason);
  }
  assert.ok(!first, 'at least one chunk with a choice');
  assert.ok(chatContent !== null, 'the non-streamed chat ran');
  assert.equal(content, chatContent);
  assert.deepEqual(finishes, [chatFinish], 'one final finish_reason, the same as non-streamed');
});

test('temperature -1 → BadRequestError (400)', async () => {
  const e = await rejection(client.completions.create({ ...greedyCompletion, temperature: -1 }));
  assert.ok(e instanceof BadRequestError, `got ${e?.constructor?.name}: ${e?.message}`);
  assert.ok(e instanceof OpenAI.BadRequestError);
  assert.equal(e.status, 400);
  assert.equal(typeof e.error?.message, 'string');
  assert.ok(e.error.message.length > 0, 'error.message non-empty');
  assert.equal(e.type, 'invalid_request_error');
});

test('temperature -1 on a streamed chat → BadRequestError before any chunk', async () => {
  const e = await rejection(client.chat.completions.create({ ...greedyChat, temperature: -1, stream: true }));
  assert.ok(e instanceof BadRequestError, `got ${e?.constructor?.name}: ${e?.message}`);
  assert.equal(e.status, 400);
});

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
};

test('tools: bad fields and a chat format that cannot render tools → BadRequestError naming the param', async () => {
  const cases = [
    [{ tools: { type: 'function' } }, 'tools'],
    [{ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'dict' } } }] },
      'tools[0].function.parameters.type'],
    [{ tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice'],
    // stories260K ships no chat template: the built-in format renders no tools.
    [{ tools: [weatherTool] }, 'tools'],
  ];
  for (const [extra, param] of cases) {
    for (const stream of [false, true]) {
      const e = await rejection(client.chat.completions.create({ ...greedyChat, ...extra, stream }));
      assert.ok(e instanceof BadRequestError, `got ${e?.constructor?.name}: ${e?.message}`);
      assert.equal(e.param, param, `${JSON.stringify(extra)}: ${e.message}`);
    }
  }
});

test('max_tokens far beyond the context → BadRequestError (400)', async () => {
  const e = await rejection(client.completions.create({ ...greedyCompletion, max_tokens: 1_000_000 }));
  assert.ok(e instanceof BadRequestError, `got ${e?.constructor?.name}: ${e?.message}`);
  assert.equal(e.status, 400);
  assert.ok(e.error?.message?.length > 0, 'error.message non-empty');
});

test('a wrong API key → AuthenticationError (401)', async () => {
  const wrong = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: 'not-the-key', maxRetries: 0 });
  const e = await rejection(wrong.completions.create(greedyCompletion));
  assert.ok(e instanceof AuthenticationError, `got ${e?.constructor?.name}: ${e?.message}`);
  assert.ok(e instanceof OpenAI.AuthenticationError);
  assert.equal(e.status, 401);
  assert.ok(e.error?.message?.length > 0, 'error.message non-empty');
  const e2 = await rejection(wrong.models.list());
  assert.ok(e2 instanceof AuthenticationError, `models.list: got ${e2?.constructor?.name}: ${e2?.message}`);
});

test('aborting a request before its answer → APIUserAbortError; the server cancels it', async () => {
  // Not streamed: the answer (and its headers) only come when generation ends. The prompt
  // takes ~13 steps of --max-batch-tokens 32, and the server pauses after each prompt step
  // (--test-prefill-delay-ms 250, see test-e2e-openai-npm.sh), so the request runs for
  // seconds before its first token whatever the machine's speed: a client that is slow to
  // poll still aborts it while it runs. (With a plain 2000-token request, a client stalled
  // for 10 s on a loaded machine saw it finish first: test-multihost failed so.)
  const abortedBefore = await abortedRequests();
  const ac = new AbortController();
  let settled = false;
  const t0 = Date.now();
  const p = client.completions.create({ model: MODEL, prompt: Array(40).fill('Once upon a time there was a little girl.').join(' '),
    max_tokens: 1000, temperature: 0, ignore_eos: true }, { signal: ac.signal });
  p.then(() => { settled = true; }, () => { settled = true; });  // also keeps an early failure handled
  // Abort once the server works on it; what the polls saw is kept for the message if it never does.
  const seen = [];
  let active = 0;
  while (!settled && Date.now() - t0 < 60_000) {
    const a0 = Date.now();
    active = await activeRequests();
    seen.push(`${active}@${a0 - t0}+${Date.now() - a0}ms`);
    if (active > 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const polls = `${seen.length} /admin/status polls (active@sent+took): ${seen.slice(0, 5).join(' ')} … ${seen.slice(-5).join(' ')}`;
  assert.ok(!settled && active > 0, `the server showed the request active before it ended (${Date.now() - t0} ms; ${polls})`);
  ac.abort();
  const e = await rejection(p);
  assert.ok(e instanceof APIUserAbortError, `got ${e?.constructor?.name}: ${e?.message}`);
  assert.ok(e instanceof OpenAI.APIUserAbortError);
  assert.equal(await waitIdle(15_000), 0, 'the server has no active request after the abort');
  assert.equal(await abortedRequests(), abortedBefore + 1, `the server ended the request as aborted (${polls})`);
});

test('aborting a stream mid-way ends it; the server cancels it and stays healthy', async () => {
  const ac = new AbortController();
  const stream = await client.chat.completions.create({ ...greedyChat, max_tokens: 1500, ignore_eos: true,
    stream: true }, { signal: ac.signal });
  let chunks = 0;
  let finished = false;
  let thrown = null;
  try {
    for await (const chunk of stream) {
      chunks++;
      if (chunk.choices[0]?.finish_reason) finished = true;
      if (chunks === 5) ac.abort();
    }
  } catch (e) {
    thrown = e;
  }
  // The library ends the iteration quietly when the user aborts mid-stream (openai v4/v5:
  // APIUserAbortError is only thrown while waiting for the response); accept that, or the
  // abort error itself, but nothing else.
  assert.ok(thrown === null || thrown instanceof APIUserAbortError, `unexpected ${thrown?.constructor?.name}: ${thrown}`);
  assert.ok(chunks >= 5 && chunks < 1500, `stopped after ${chunks} chunks`);
  assert.ok(!finished, 'no finish_reason: the stream was cut');
  assert.equal(await waitIdle(15_000), 0, 'the server has no active request after the abort');
  // The server still answers, with the same greedy text as before.
  const r = await client.completions.create(greedyCompletion);
  assert.equal(r.choices[0].text, greedyText);
  assert.equal(r.choices[0].finish_reason, 'length');
});

test('stream.controller.abort() ends a completion stream; the next request works', async () => {
  const stream = await client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 2000, temperature: 0,
    ignore_eos: true, stream: true });
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.choices[0]?.finish_reason ?? null, null, 'not finished');
    if (chunks === 3) stream.controller.abort();
  }
  assert.ok(chunks >= 3 && chunks < 2000, `stopped after ${chunks} chunks`);
  assert.equal(await waitIdle(15_000), 0, 'the server has no active request after the abort');
  const r = await client.chat.completions.create(greedyChat);
  assert.equal(r.choices[0].message.content, chatContent);
});
