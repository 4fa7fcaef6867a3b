-- erase_reuse.lua: the last step of erasing one person from an account's reuse store
-- (Account::erase_person): their own entries go in any state (a stored profile, their pay
-- lock, the note; with the earlier layout's `names:` and `paying:` keys), and each entry of
-- someone else whose profile names them goes only if it still holds the profile that was
-- read (one that became a lock for another job since is left alone: no lock is released
-- for someone who was not erased). Each entry that goes leaves the `carries:` sets of the
-- identifiers it named. The caller set the person's tombstone before reading, so no profile
-- naming them is stored meanwhile.
-- KEYS[1] carries:<hash> (deleted)
-- then per entry: reuse:<kind>:<person>, names:<kind>:<person>, paying:<kind>:<person>
-- then, per entry in order, the carries:<h> sets of the identifiers its profile named
-- ARGV per entry triples: 1 = the erased person's own | 0 = another's, the value read
--   (another's: deleted only if it still is), how many carries:<h> keys follow for it
-- Returns how many entries went.

if #ARGV % 3 ~= 0 then return redis.error_reply('erase_reuse: bad arguments') end
local n = #ARGV / 3
local sets = 0
for i = 1, n do
  local c = tonumber(ARGV[3 * i])
  if not c then return redis.error_reply('erase_reuse: bad arguments') end
  sets = sets + c
end
if #KEYS ~= 1 + 3 * n + sets then return redis.error_reply('erase_reuse: bad arguments') end
local gone, s = 0, 2 + 3 * n
for i = 1, n do
  local key, names, paying = KEYS[3 * i - 1], KEYS[3 * i], KEYS[3 * i + 1]
  local own, read, c = ARGV[3 * i - 2] == '1', ARGV[3 * i - 1], tonumber(ARGV[3 * i])
  local go = own or redis.call('GET', key) == read
  if go then
    if own then redis.call('DEL', key, names, paying) else redis.call('DEL', key, names) end
    for j = s, s + c - 1 do redis.call('SREM', KEYS[j], key) end
    gone = gone + 1
  end
  s = s + c
end
redis.call('DEL', KEYS[1])
return gone
