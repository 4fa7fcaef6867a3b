-- charge_begin.lua: before paid calls, for a batch of jobs of one account (a worker gathers
-- the jobs that begin while its last call is in flight: one round trip for all of them), each
-- in one step on the person's one entry (`reuse:<kind>:<person>`, see keys.rs), which holds
-- `run|<who>` (a paid call in flight), `unsure|<who>` (the last paid call got no answer) or a
-- stored profile (`profile|<carried hashes>|<value>`, or a bare value written before the
-- entry held the lock too): a stored profile is handed over; a paid call already in flight for
-- the person makes the caller wait for its answer; otherwise the caller takes the lock (and is
-- told to look first when the last paid call for the person got no answer). A job that asked
-- for a fresh answer takes the lock over a stored profile. Entries run in order, so two jobs
-- for one person in one batch make one paid call: the second waits.
-- The lock of the earlier layout (`paying:<kind>:<person>`, written by a worker of an earlier
-- version) is honoured until it expires: read, never written, deleted when the caller takes
-- over from it.
-- KEYS pairs per entry: reuse:<kind>:<person>, paying:<kind>:<person> (earlier layout)
-- ARGV triples per entry: who asks (`queue|job|token`), lock ms (the longest a paid call can
-- take), 1 = a stored profile may be reused (0: a fresh job)
-- Returns two values per entry: 'reuse', stored value | 'wait', ms the lock has left |
-- 'go', 1 = look first.
-- The common case (nothing stored, no lock) is one write: GET of the earlier layout's lock (nil),
-- SET NX.

local n = #KEYS / 2
if n ~= math.floor(n) or #ARGV ~= 3 * n then
  return redis.error_reply('charge_begin: bad arguments')
end
for i = 1, n do
  if not tonumber(ARGV[3 * i - 1]) then return redis.error_reply('charge_begin: non-numeric lock') end
end
local function running(v, mine) return v and string.sub(v, 1, 4) == 'run|' and v ~= mine end
local function unsure(v) return v and string.sub(v, 1, 7) == 'unsure|' end
local out = {}
for i = 1, n do
  local key, legacy_key = KEYS[2 * i - 1], KEYS[2 * i]
  local me, lock_ms, reuse = ARGV[3 * i - 2], tonumber(ARGV[3 * i - 1]), ARGV[3 * i]
  local mine = 'run|' .. me
  local legacy = redis.call('GET', legacy_key)
  local look = unsure(legacy) and 1 or 0
  if not running(legacy, mine) and redis.call('SET', key, mine, 'NX', 'PX', lock_ms) then
    if legacy then redis.call('DEL', legacy_key) end
    out[#out + 1] = 'go'; out[#out + 1] = look
  else
    local v = redis.call('GET', key)
    local profile = v and not string.match(v, '^run|') and not unsure(v)
    if profile and reuse == '1' then
      local bar = string.sub(v, 1, 8) == 'profile|' and string.find(v, '|', 9, true)
      out[#out + 1] = 'reuse'; out[#out + 1] = bar and string.sub(v, bar + 1) or v
    elseif running(v, mine) then
      out[#out + 1] = 'wait'; out[#out + 1] = math.max(redis.call('PTTL', key), 1)
    elseif running(legacy, mine) then
      out[#out + 1] = 'wait'; out[#out + 1] = math.max(redis.call('PTTL', legacy_key), 1)
    else
      if unsure(v) then look = 1 end
      redis.call('SET', key, mine, 'PX', lock_ms)
      if legacy then redis.call('DEL', legacy_key) end
      out[#out + 1] = 'go'; out[#out + 1] = look
    end
  end
end
return out
