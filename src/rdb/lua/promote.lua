-- promote.lua: moves up to ARGV[1] (<= 1000) due scheduled jobs to ready and wakes a worker.
-- KEYS[1] scheduled  KEYS[2] ready  KEYS[3] wake
-- ARGV[1] max jobs to move
-- Returns the number moved; callers loop while it equals ARGV[1].

return promote(KEYS[1], KEYS[2], KEYS[3], now_ms(), tonumber(ARGV[1]))
