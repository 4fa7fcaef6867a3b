-- run_now.lua: moves a scheduled job to the head of `ready`, so it runs next, and wakes a worker.
-- KEYS[1] scheduled  KEYS[2] ready  KEYS[3] wake
-- ARGV[1] job id
-- Returns 1 if it moved, 0 if it was not scheduled.

if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
wake(KEYS[3])
return 1
