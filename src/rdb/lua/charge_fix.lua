-- charge_fix.lua: after a batch of plain settles (`SET <entry> <profile> XX PX <window> GET`,
-- src/rdb/pay_locks.rs), for the entries whose profile must not stay: the one the settle
-- stored over another job's lock (the caller's own had expired and was taken: the lock is put
-- back, for the caller's lock life), or one whose person, or anyone it names, was erased before
-- it was stored (the batch's one `EXISTS` of the tombstones was not 0), or a plaintext profile
-- stored after the account sealed one. Each entry is changed only while it still holds the
-- profile that settle stored: anything written since (another job's lock, a newer profile,
-- erase's removal) stays as it is.
-- KEYS[1] sealed (the account's marker)
-- then per entry: reuse:<kind>:<person>, erased:<person>, then a pair per carried identifier:
--   carries:<hash>, erased:<hash>
-- ARGV 4 values per entry: the entry the settle stored, another job's lock it replaced (put
--   back; empty when it replaced no one's lock), the lock's life (ms), the number of pairs
-- Returns how many entries were changed.

local PER = 4
local n = reuse_entries(PER, 4, function(b) return tonumber(ARGV[b + 3]) end)
if not n then return redis.error_reply('charge_fix: bad arguments') end
local changed, k = 0, 2
for i = 1, n do
  local b = (i - 1) * PER
  local stored, replaced, lock_ms = ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3])
  local np = tonumber(ARGV[b + 4])
  local key, first, last = KEYS[k], k + 2, k + 1 + 2 * np
  local stop = reuse_stops(k, np, stored)
  k = last + 1
  if redis.call('GET', key) == stored then
    local put_back = string.sub(replaced, 1, 4) == 'run|'
    if put_back or redis.call('EXISTS', unpack(stop)) > 0 then
      if put_back then
        redis.call('SET', key, replaced, 'PX', lock_ms)
      else
        redis.call('DEL', key)
      end
      for j = first, last, 2 do redis.call('SREM', KEYS[j], key) end
      changed = changed + 1
    end
  end
end
return changed
