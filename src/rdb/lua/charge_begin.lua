-- charge_begin.lua: before paid calls, for a batch of jobs of one account (a worker gathers
-- the jobs that begin while its last call is in flight: one round trip for all of them), each
-- in one step on the person's one entry (`reuse:<kind>:<person>`, see keys.rs), which holds
-- `run|<who>` (a paid call in flight), `unsure|<who>` (the last paid call got no answer) or a
-- stored profile (`profile|<carried hashes>|<value>`, or a bare value written before the
-- entry held the lock too): a stored profile is handed over; a paid call already in flight for
-- the person makes the caller wait for its answer; otherwise the caller takes the lock (and is
-- told to look first when the last paid call for the person got no answer). Entries run in
-- order, so two jobs for one person in one batch make one paid call: the second waits.
-- The lock aside (`paying:<kind>:<person>`) is a job's that asked for a fresh answer while a
-- profile is stored: the profile stays in the entry for the others, and the lock (or its note)
-- goes there; a worker of an earlier version kept every lock there. It is read on every
-- begin and honoured like the entry's.
-- KEYS pairs per entry: reuse:<kind>:<person>, paying:<kind>:<person> (the lock aside)
-- ARGV triples per entry: who asks (`queue|job|token`), lock ms (the longest a paid call can
-- take), 1 = a stored profile may be reused (0: a fresh job)
-- Returns two values per entry: 'reuse', stored value | 'wait', ms the lock has left |
-- 'go', 1 = look first.
-- The common case (nothing stored, no lock) is one write: GET of the lock aside (nil), SET NX.

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
  local key, aside_key = KEYS[2 * i - 1], KEYS[2 * i]
  local me, lock_ms, reuse = ARGV[3 * i - 2], tonumber(ARGV[3 * i - 1]), ARGV[3 * i]
  local mine = 'run|' .. me
  local aside = redis.call('GET', aside_key)
  local look = unsure(aside) and 1 or 0
  if not running(aside, mine) and redis.call('SET', key, mine, 'NX', 'PX', lock_ms) then
    if aside then redis.call('DEL', aside_key) end
    out[#out + 1] = 'go'; out[#out + 1] = look
  else
    local v = redis.call('GET', key)
    local profile = v and not string.match(v, '^run|') and not unsure(v)
    if profile and reuse == '1' then
      local bar = string.sub(v, 1, 8) == 'profile|' and string.find(v, '|', 9, true)
      out[#out + 1] = 'reuse'; out[#out + 1] = bar and string.sub(v, bar + 1) or v
    elseif running(v, mine) then
      out[#out + 1] = 'wait'; out[#out + 1] = math.max(redis.call('PTTL', key), 1)
    elseif running(aside, mine) then
      out[#out + 1] = 'wait'; out[#out + 1] = math.max(redis.call('PTTL', aside_key), 1)
    else
      if unsure(v) then look = 1 end
      if profile then
        -- A fresh job: the stored profile stays for the others, the lock goes aside.
        redis.call('SET', aside_key, mine, 'PX', lock_ms)
      else
        redis.call('SET', key, mine, 'PX', lock_ms)
        if aside then redis.call('DEL', aside_key) end
      end
      out[#out + 1] = 'go'; out[#out + 1] = look
    end
  end
end
return out
