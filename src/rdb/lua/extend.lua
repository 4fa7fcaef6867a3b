-- extend.lua: pushes the lease deadline of jobs a worker still holds.
-- KEYS[1] running  KEYS[2] lease
-- ARGV[1] lease ms, then id, token pairs
-- Returns the ids whose lease this worker no longer holds (reaped, or finished elsewhere).

local deadline = now_ms() + tonumber(ARGV[1])
local keep, lost = {}, {}
for i = 2, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local lease = redis.call('HGET', KEYS[2], id)
  if lease and string.sub(lease, 1, #token + 1) == token .. '|' then
    keep[#keep + 1] = deadline; keep[#keep + 1] = id
  else
    lost[#lost + 1] = id
  end
end
if #keep > 0 then
  for i = 1, #keep, 2000 do
    redis.call('ZADD', KEYS[1], 'XX', unpack(keep, i, math.min(i + 1999, #keep)))
  end
end
return lost
