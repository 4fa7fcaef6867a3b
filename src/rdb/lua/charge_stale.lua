-- charge_stale.lua: takes over a person's pay lock whose holder no longer holds its job's lease
-- (its worker died or lost the job mid-call: the charge is uncertain), only while the entry
-- still holds exactly that lock (src/rdb/pay_locks.rs reads the holder's lease first; the lease
-- is in the holder's queue, another hash slot, so it cannot be read here). The caller then
-- looks first before paying.
-- KEYS[1] reuse:<kind>:<person>
-- ARGV[1] the stale lock (`run|queue|job|token`), ARGV[2] the caller's lock, ARGV[3] lock ms
-- Returns 1 if the caller took the lock, 0 if the entry changed meanwhile.

if not tonumber(ARGV[3]) then return redis.error_reply('charge_stale: bad arguments') end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
