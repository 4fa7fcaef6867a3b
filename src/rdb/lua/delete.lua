-- delete.lua: deletes dead letters for good (only ids that are dead when the script runs).
-- KEYS[1] dead  KEYS[2] dead_index  KEYS[3] stats
-- KEYS[4..11] the eight job column hashes, in keys.rs `job_columns` order (dindex last)
-- KEYS[12] ident
-- ARGV: the ids
-- Returns the ids deleted.

local out = {}
for _, id in ipairs(ARGV) do
  if undead(KEYS[1], KEYS[2], KEYS[11], id) == 1 then out[#out + 1] = id end
end
if #out > 0 then
  unindex(KEYS[12], KEYS[4], out)
  delete_columns(4, out)
  redis.call('HINCRBY', KEYS[3], 'deleted', #out)
end
return out
