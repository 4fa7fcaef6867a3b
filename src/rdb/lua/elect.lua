-- elect.lua: holds a role for one process: takes the role key when it is free, extends it when
-- this process already holds it, and otherwise leaves it to its holder.
-- KEYS[1] the role key (e.g. `sampler`)
-- ARGV[1] the process id  ARGV[2] how long the role lasts without renewal (ms)
-- Returns 1 if this process holds the role now, 0 if another does.

local ttl = tonumber(ARGV[2])
if not ttl then return redis.error_reply('elect: non-numeric ttl') end
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
return 1
