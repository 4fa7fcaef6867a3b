-- outbox_take.lua: moves up to ARGV[1] of the oldest webhook references from the outbox to the
-- held list, atomically (a forwarder that dies holding them leaves them there for the sweep).
-- KEYS[1] outbox  KEYS[2] outbox_held  ARGV[1] most to move
-- Returns the references moved, oldest first.
local got = {}
for _ = 1, tonumber(ARGV[1]) do
  local v = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not v then break end
  got[#got + 1] = v
end
return got
