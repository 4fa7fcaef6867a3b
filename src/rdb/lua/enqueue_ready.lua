-- enqueue_ready.lua: adds plaintext jobs ready now without an idempotency key, exactly as the
-- transaction in src/rdb/enqueue.rs adds sealed ones (records stamped by the caller with Redis
-- time, the identity index, the ready list, one event, the counter, the wake-up token), but
-- refused whole while the queue is sealed (KEYS[7] exists): the check and the write are one
-- step. No per-job work here beyond the identity index: the values arrive in the order the
-- commands take them.
-- KEYS[1] job  KEYS[2] ident  KEYS[3] ready  KEYS[4] events  KEYS[5] stats  KEYS[6] wake
-- KEYS[7] sealed (the marker)
-- ARGV[1] number of jobs n (1..1000)  ARGV[2] number of identity-index members m
-- ARGV[3] events MAXLEN (0 = no event)  ARGV[4] the event's ids  ARGV[5] the event's kinds
-- then n pairs: id, record; then the n ids (in push order); then m index members (`hash|id`)
-- Returns n.

local n, m, maxlen = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if not (n and m and maxlen) or n < 1 or n > 1000 or #ARGV ~= 5 + 3 * n + m then
  return redis.error_reply('enqueue_ready: bad argument count')
end
if redis.call('EXISTS', KEYS[7]) == 1 then
  return redis.error_reply('enqueue: the queue is sealed (' .. KEYS[7] ..
    '): refusing to write plaintext; set seal.keys_file (OKQ_SEAL__KEYS_FILE) to its keys')
end
local first = 6
redis.call('HSET', KEYS[1], unpack(ARGV, first, first + 2 * n - 1))
if m > 0 then
  local index = {}
  for i = first + 3 * n, first + 3 * n + m - 1 do
    index[#index + 1] = '0'; index[#index + 1] = ARGV[i]
  end
  call_sliced('ZADD', KEYS[2], index, 2)
end
redis.call('LPUSH', KEYS[3], unpack(ARGV, first + 2 * n, first + 3 * n - 1))
if maxlen > 0 then
  redis.call('XADD', KEYS[4], 'MAXLEN', maxlen, '*', 'event', 'enqueued', 'jobs', ARGV[4],
    'kinds', ARGV[5], 'classes', '', 'attempts', '0')
end
redis.call('HINCRBY', KEYS[5], 'enqueued', n)
wake(KEYS[6])
return n
