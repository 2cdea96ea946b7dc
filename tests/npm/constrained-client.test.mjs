// The official `openai` npm client and constrained output: tool_choice named / required
// (parallel or not), streamed and not, response_format json_schema, and the 400s of bad
// constraints. Run by tests/scripts/test-e2e-constrained.py, which starts the server on
// 2 ranks and validates every call's arguments and every document this file records
// (SHARDLM_OUT, one JSON line each: {"what", "schema", "text"}) with python3-jsonschema.
// Here: the shapes (a call to a listed tool, finish_reason, the streamed deltas joined
// equal the non-streamed answer of the same seed) and that arguments parse as JSON.
// Environment: SHARDLM_URL (required), SHARDLM_MODEL_ID, SHARDLM_OUT (required),
// SHARDLM_MAX_TOKENS (default 400).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import OpenAI, { BadRequestError } from 'openai';

const BASE = process.env.SHARDLM_URL;
const OUT = process.env.SHARDLM_OUT;
if (!BASE || !OUT) throw new Error('set SHARDLM_URL and SHARDLM_OUT');
const MODEL = process.env.SHARDLM_MODEL_ID ?? 'model';
const MAX_TOKENS = Number(process.env.SHARDLM_MAX_TOKENS ?? 400);
const client = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 300_000 });

// Parameters a random-weight model can always finish: enums, integers, booleans, a
// bounded array and a nested object (a free string may run to max_tokens); pydantic's
// shapes ($defs, a $ref wrapped in allOf) and integer bounds.
const WEATHER = {
  type: 'object',
  properties: {
    unit: { enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer', minimum: 1, maximum: 14 },
    detailed: { type: 'boolean' },
  },
  required: ['unit', 'days'],
};
const ALARM = {
  type: 'object',
  properties: {
    at: { allOf: [{ $ref: '#/$defs/T' }] },
    repeat: { type: 'array', items: { enum: ['mon', 'tue', 'wed'] }, maxItems: 2 },
    level: { anyOf: [{ type: 'null' }, { const: 3 }] },
  },
  required: ['at', 'repeat'],
  $defs: { T: { type: 'object', properties: { hour: { type: 'integer', minimum: 0, maximum: 23 },
    minute: { type: 'integer', exclusiveMinimum: -1, exclusiveMaximum: 60 } }, required: ['hour'] } },
};
const TOOLS = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather forecast', parameters: WEATHER } },
  { type: 'function', function: { name: 'set_alarm', parameters: ALARM } },
  { type: 'function', function: { name: 'ping' } },
];
const SCHEMAS = { get_weather: WEATHER, set_alarm: ALARM, ping: { type: 'object', properties: {} } };

const base = (extra) => ({
  model: MODEL,
  messages: [{ role: 'user', content: 'What is the weather like, and wake me up tomorrow' }],
  tools: TOOLS,
  max_tokens: MAX_TOKENS,
  temperature: 0.9,
  seed: 7,
  ...extra,
});

function record(what, schema, text) {
  appendFileSync(OUT, JSON.stringify({ what, schema, text }) + '\n');
}

// Every call names a listed tool; its arguments are JSON (validated by the driver).
function checkCalls(calls, what, allowed) {
  assert.ok(Array.isArray(calls) && calls.length >= 1, `${what}: tool_calls present`);
  for (const c of calls) {
    assert.equal(c.type, 'function', `${what}: type`);
    assert.match(c.id, /^call_[A-Za-z0-9]{24}$/, `${what}: id`);
    assert.ok(allowed.includes(c.function.name), `${what}: ${c.function.name} is one of ${allowed}`);
    assert.doesNotThrow(() => JSON.parse(c.function.arguments), `${what}: arguments parse: ${c.function.arguments}`);
    record(`${what} ${c.function.name}`, SCHEMAS[c.function.name], c.function.arguments);
  }
}

// A client's reassembly of the streamed deltas (the first delta of a call has id and name).
async function joined(stream) {
  const calls = [];
  let content = '', finish = null;
  for await (const chunk of stream) {
    for (const ch of chunk.choices) {
      content += ch.delta?.content ?? '';
      for (const t of ch.delta?.tool_calls ?? []) {
        if (t.id) calls[t.index] = { id: t.id, type: t.type, function: { name: t.function.name, arguments: t.function.arguments ?? '' } };
        else calls[t.index].function.arguments += t.function.arguments ?? '';
      }
      finish = ch.finish_reason ?? finish;
    }
  }
  return { content, calls, finish };
}

const stripIds = (calls) => calls.map((c) => ({ name: c.function.name, arguments: c.function.arguments }));

for (const [what, extra, allowed] of [
  ['named', { tool_choice: { type: 'function', function: { name: 'set_alarm' } } }, ['set_alarm']],
  ['required single', { tool_choice: 'required', parallel_tool_calls: false }, ['get_weather', 'set_alarm', 'ping']],
  ['required parallel', { tool_choice: 'required', seed: 11 }, ['get_weather', 'set_alarm', 'ping']],
  ['named greedy', { tool_choice: { type: 'function', function: { name: 'get_weather' } }, temperature: 0 }, ['get_weather']],
]) {
  test(`tool_choice ${what}: a call to a listed tool, streamed deltas join to the same calls`, async () => {
    const r = await client.chat.completions.create(base(extra));
    const m = r.choices[0];
    assert.equal(m.finish_reason, 'tool_calls', `${what}: finish_reason (${JSON.stringify(m)})`);
    checkCalls(m.message.tool_calls, what, allowed);
    if (what !== 'required parallel') assert.equal(m.message.tool_calls.length, 1, `${what}: exactly one call`);
    const s = await joined(await client.chat.completions.create({ ...base(extra), stream: true }));
    assert.equal(s.finish, 'tool_calls', `${what} streamed: finish_reason`);
    assert.equal(s.content, '', `${what} streamed: no content`);
    assert.deepEqual(stripIds(s.calls), stripIds(m.message.tool_calls), `${what}: streamed = non-streamed`);
    checkCalls(s.calls, `${what} streamed`, allowed);
  });
}

test('several seeds: every forced call validates (recorded for the driver)', async () => {
  for (let seed = 100; seed < 106; ++seed) {
    const r = await client.chat.completions.create(base({ tool_choice: 'required', seed }));
    assert.equal(r.choices[0].finish_reason, 'tool_calls', `seed ${seed}`);
    checkCalls(r.choices[0].message.tool_calls, `required seed ${seed}`, ['get_weather', 'set_alarm', 'ping']);
  }
});

test('response_format json_schema through the SDK: content is the document', async () => {
  const schema = { type: 'object', properties: { ok: { type: 'boolean' }, n: { type: 'array', items: { type: 'integer' }, maxItems: 3 } }, required: ['ok', 'n'] };
  for (const stream of [false, true]) {
    const req = {
      model: MODEL, messages: [{ role: 'user', content: 'Answer in JSON' }], max_tokens: MAX_TOKENS, temperature: 0.8, seed: 3,
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } },
    };
    let text, finish;
    if (stream) {
      const s = await joined(await client.chat.completions.create({ ...req, stream: true }));
      text = s.content;
      finish = s.finish;
      assert.equal(s.calls.length, 0);
    } else {
      const r = await client.chat.completions.create(req);
      text = r.choices[0].message.content;
      finish = r.choices[0].finish_reason;
    }
    assert.equal(finish, 'stop', `stream=${stream}: finish_reason`);
    assert.doesNotThrow(() => JSON.parse(text), `stream=${stream}: ${text}`);
    record(`response_format stream=${stream}`, schema, text);
  }
});

async function status400(req) {
  try {
    await client.chat.completions.create(req);
  } catch (e) {
    assert.ok(e instanceof BadRequestError, `a 400, got ${e}`);
    return e;
  }
  assert.fail('the request succeeded; a 400 was expected');
}

test('bad constraints are 400s naming the param', async () => {
  const cases = [
    [{ tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice'],
    [{ tools: { type: 'function' }, tool_choice: 'required' }, 'tools'],
    [{ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string', not: { const: 'x' } } } } } }],
       tool_choice: 'required' }, 'tools[0].function.parameters'],
    [{ tools: [{ type: 'function', function: { name: 'f', parameters: 'not a schema' } }], tool_choice: 'required' },
      'tools[0].function.parameters'],
    [{ tools: undefined, tool_choice: undefined, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', format: 'uri', minLength: 3 } } } },
      'response_format.json_schema.schema'],
    [{ tools: undefined, tool_choice: undefined, response_format: { type: 'json_schema', json_schema: { name: 'x' } } },
      'response_format.json_schema.schema'],
    [{ tools: undefined, tool_choice: undefined, response_format: { type: 'xml' } }, 'response_format.type'],
  ];
  for (const [extra, param] of cases) {
    const e = await status400(base(extra));
    assert.equal(e.param, param, `param of ${JSON.stringify(extra)}: ${e.message}`);
  }
});
