import type { RedisClient } from './redis-connection';
import { CorruptValue, MAX_RECORD_BYTES } from './values';

/**
 * Reads a decision's keys and the agent's blueprint in one round trip when the agent is not
 * cached (its blueprint id is only known once the agent record is read). KEYS: the keys to read,
 * the agent's first; ARGV[1]: the tenant's blueprint key prefix (`pdp:{t}:blueprint:`); ARGV[2]:
 * the largest agent value worth decoding (a larger one is corrupt to the reader anyway, and
 * decoding it would stall Redis); ARGV[3]: the tenant's blueprint-risk key prefix
 * (`pdp:{t}:risk:blueprint:`). Every key, the blueprint's and its risk's included, carries the `{tenant}` hash tag, so the script stays in one slot and
 * runs on Redis Cluster. The agent value is hostile: a decode failure or a non-string id reads no
 * blueprint, and MGET (not GET) answers nil for a key of the wrong type instead of an error.
 * Reply: { values of KEYS, blueprint id read or nil, blueprint value or nil, blueprint risk or nil }.
 */
export const READ_SIGNALS_LUA = `
local values = redis.call('MGET', unpack(KEYS))
local blueprintId, blueprint, blueprintRisk = false, false, false
local raw = values[1]
if raw and string.len(raw) <= tonumber(ARGV[2]) then
  local ok, agent = pcall(cjson.decode, raw)
  if ok and type(agent) == 'table' and type(agent['blueprint_id']) == 'string' then
    blueprintId = agent['blueprint_id']
    local key = ARGV[1] .. blueprintId
    local riskKey = ARGV[3] .. blueprintId
    local extra = redis.call('MGET', key, riskKey)
    blueprint, blueprintRisk = extra[1], extra[2]
  end
end
return { values, blueprintId, blueprint, blueprintRisk }
`;

export interface SignalsReply {
  /** Raw bytes, so that invalid UTF-8 is refused by the strict parser rather than replaced. */
  values: (Buffer | null)[];
  /** The blueprint id the script decoded from the agent (the caller checks it matches its own parse). */
  blueprintId: string | null;
  blueprint: Buffer | null;
  blueprintRisk: Buffer | null;
}

type ScriptCommand = (numKeys: number, ...args: string[]) => Promise<unknown>;

const COMMAND = 'pdpReadSignals';

function bytesOrNull(value: unknown): value is Buffer | null {
  return value === null || Buffer.isBuffer(value);
}

/** Checks the reply's shape; anything else (a proxy, a replaced script) is corrupt, never trusted. */
export function parseSignalsReply(reply: unknown, keyCount: number): SignalsReply {
  if (
    !Array.isArray(reply) ||
    reply.length !== 4 ||
    !Array.isArray(reply[0]) ||
    reply[0].length !== keyCount ||
    !(reply[0] as unknown[]).every(bytesOrNull) ||
    !bytesOrNull(reply[1]) ||
    !bytesOrNull(reply[2]) ||
    !bytesOrNull(reply[3])
  ) {
    throw new CorruptValue('unexpected reply from the signals script');
  }
  return {
    values: reply[0] as (Buffer | null)[],
    blueprintId: reply[1] === null ? null : reply[1].toString('utf8'),
    blueprint: reply[2],
    blueprintRisk: reply[3],
  };
}

/**
 * Registers the script on the client (ioredis sends EVAL once per connection, EVALSHA after, and
 * re-sends on NOSCRIPT) and returns the reader. `keys[0]` must be the agent's key.
 */
export function signalsScript(
  client: RedisClient,
): (keys: readonly string[], blueprintPrefix: string, riskPrefix: string) => Promise<SignalsReply> {
  client.defineCommand(COMMAND, { lua: READ_SIGNALS_LUA, readOnly: true });
  // The Buffer variant ioredis defines alongside every script command.
  const command = (client as unknown as Record<`${typeof COMMAND}Buffer`, ScriptCommand>)[
    `${COMMAND}Buffer`
  ].bind(client);
  return async (keys, blueprintPrefix, riskPrefix) =>
    parseSignalsReply(
      await command(keys.length, ...keys, blueprintPrefix, String(MAX_RECORD_BYTES), riskPrefix),
      keys.length,
    );
}
