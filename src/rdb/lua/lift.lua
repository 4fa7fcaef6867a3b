-- lift.lua: an operator lifts the account's budget hold: the budget no longer holds the
-- account until the next UTC midnight. Nothing is lifted when nothing was held.
-- KEYS[1] hold  KEYS[2] lifted
-- Returns 1 if a hold was lifted, 0 otherwise.

if redis.call('DEL', KEYS[1]) == 0 then return 0 end
local midnight = (math.floor(now_ms() / 86400000) + 1) * 86400000
redis.call('SET', KEYS[2], '1', 'PXAT', midnight)
return 1
