-- One executor step on one shard, in one call: writes, stream appends and fan-in marks.
-- Every write is refused once the job's live flag is gone, so a straggler leaves nothing.
--
-- KEYS[1] = the job's live flag; further keys are consumed by the operations in order.
-- ARGV[1] = ttl in ms; ARGV[2] = owner (the invocation id); then operations:
--   'set', value                      KEYS: the key                  -> nothing
--   'xadd', n, field, value, ...      KEYS: the stream (n = 2*pairs) -> nothing
--   'mark', parent, ndeps, nfetch     KEYS: done set, claim, nfetch output keys
--        -> {1, values...} claimed by owner; {0} not complete, or claimed by another
-- Marking is idempotent: a set of finished parents (never a bare INCR), so a duplicated or
-- retried invocation cannot double-count, and a claim names its owner, so a retry of the same
-- invocation claims again while any other executor is refused.
-- Returns -1 if the job is gone, else the list of mark replies in order.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local ttl, owner = ARGV[1], ARGV[2]
local k, a = 2, 3
local replies = {}
while a <= #ARGV do
  local op = ARGV[a]
  if op == 'set' then
    redis.call('SET', KEYS[k], ARGV[a + 1], 'PX', ttl)
    k, a = k + 1, a + 2
  elseif op == 'xadd' then
    local n = tonumber(ARGV[a + 1])
    redis.call('XADD', KEYS[k], '*', unpack(ARGV, a + 2, a + 1 + n))
    redis.call('PEXPIRE', KEYS[k], ttl)
    k, a = k + 1, a + 2 + n
  elseif op == 'mark' then
    local done, claim, nfetch = KEYS[k], KEYS[k + 1], tonumber(ARGV[a + 3])
    redis.call('SADD', done, ARGV[a + 1])
    redis.call('PEXPIRE', done, ttl)
    local reply = {0}
    if redis.call('SCARD', done) >= tonumber(ARGV[a + 2]) then
      local current = redis.call('GET', claim)
      if not current or current == owner then
        if not current then redis.call('SET', claim, owner, 'PX', ttl) end
        reply = {1}
        for i = 1, nfetch do reply[i + 1] = redis.call('GET', KEYS[k + 1 + i]) end
      end
    end
    replies[#replies + 1] = reply
    k, a = k + 2 + nfetch, a + 4
  else
    return redis.error_reply('unknown step operation ' .. tostring(op))
  end
end
return replies
