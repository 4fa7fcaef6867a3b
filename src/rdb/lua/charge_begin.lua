-- charge_begin.lua: the begins a plain `SET NX GET` cannot settle (src/rdb/pay_locks.rs): a
-- job that asked for a fresh answer, an entry holding another job's lock (how long to wait)
-- or the note that the last paid call got no answer. Each ask is one step on the person's one
-- entry (`reuse:<kind>:<person>`, see keys.rs), which holds `run|<who>` (a paid call in
-- flight), `unsure|<who>` (the last paid call got no answer) or a stored profile
-- (`profile|<carried hashes>|<value>`; a bare value is an earlier version's profile): a stored
-- profile is handed over (unless the job asked for a fresh answer: its lock then replaces the
-- profile, and the others wait for its answer); a paid call in flight for the person makes the
-- caller wait for its answer; otherwise the caller takes the lock (and is told to look first
-- when the last paid call for the person got no answer). Entries run in order, so two jobs
-- for one person in one batch make one paid call: the second waits.
-- KEYS per entry: reuse:<kind>:<person>
-- ARGV triples per entry: who asks (`queue|job|token`), lock ms (the longest a paid call can
-- take), 1 = a stored profile may be reused (0: a fresh job)
-- Returns three values per entry: 'reuse', stored value, '' | 'wait', ms the lock has left,
-- the lock (its holder: src/rdb/pay_locks.rs checks its lease) | 'go', 1 = look first, ''.

local n = #KEYS
if #ARGV ~= 3 * n then return redis.error_reply('charge_begin: bad arguments') end
for i = 1, n do
  if not tonumber(ARGV[3 * i - 1]) then return redis.error_reply('charge_begin: non-numeric lock') end
end
local out = {}
for i = 1, n do
  local key, me, lock_ms, reuse = KEYS[i], ARGV[3 * i - 2], tonumber(ARGV[3 * i - 1]), ARGV[3 * i]
  local mine = 'run|' .. me
  local v = redis.call('SET', key, mine, 'NX', 'PX', lock_ms, 'GET')
  if not v or v == mine then
    out[#out + 1] = 'go'; out[#out + 1] = 0; out[#out + 1] = ''
  elseif string.sub(v, 1, 4) == 'run|' then
    out[#out + 1] = 'wait'; out[#out + 1] = math.max(redis.call('PTTL', key), 1); out[#out + 1] = v
  elseif string.sub(v, 1, 7) ~= 'unsure|' and reuse == '1' then
    local bar = string.sub(v, 1, 8) == 'profile|' and string.find(v, '|', 9, true)
    out[#out + 1] = 'reuse'; out[#out + 1] = bar and string.sub(v, bar + 1) or v; out[#out + 1] = ''
  else
    -- The note (look first), or a fresh job over a stored profile: the lock replaces it.
    redis.call('SET', key, mine, 'PX', lock_ms)
    out[#out + 1] = 'go'; out[#out + 1] = string.sub(v, 1, 7) == 'unsure|' and 1 or 0
    out[#out + 1] = ''
  end
end
return out
