-- One executor step on one shard, in one call: writes, stream appends and fan-in marks.
-- Every write is refused once the job's live flag is gone, so a straggler leaves nothing.
--
-- KEYS[1] = the job's live flag ('<prefix>live'); further keys are consumed by the
-- operations in order.
-- ARGV[1] = ttl in ms; ARGV[2] = owner (the invocation id); then operations:
--   'set', value                      KEYS: the key                  -> nothing
--   'xadd', n, field, value, ...      KEYS: the stream (n = 2*pairs) -> nothing
--   'mark', parent, ndeps, last_only, nskip, skip...
--                                     KEYS: done set, claim
--        -> {1, member, value, ...} claimed by owner, with the outputs of the set's members
--           that live on this shard (all but the parent and `skip`, which the caller holds);
--           {0} not complete, or claimed by another.
--        With last_only = 1 the parent is marked only if that completes the set (or it was
--        marked before): otherwise nothing changes, so a holder can re-check later.
-- Marking is idempotent: a set of finished parents (never a bare INCR), so a duplicated or
-- retried invocation cannot double-count, and a claim names its owner, so a retry of the same
-- invocation claims again while any other executor is refused.
-- Returns -1 if the job is gone, else the list of mark replies in order.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local ttl, owner = ARGV[1], ARGV[2]
local outputs = string.sub(KEYS[1], 1, -5) .. 'o:'

local function claim_inputs(done, skip)
  local reply = {1}
  for _, member in ipairs(redis.call('SMEMBERS', done)) do
    if not skip[member] then
      local value = redis.call('GET', outputs .. member)
      if value then
        reply[#reply + 1] = member
        reply[#reply + 1] = value
      end
    end
  end
  return reply
end

local function mark(done, claim, parent, ndeps, last_only, skip)
  if last_only and redis.call('SISMEMBER', done, parent) == 0
      and redis.call('SCARD', done) + 1 < ndeps then
    return {0}
  end
  redis.call('SADD', done, parent)
  redis.call('PEXPIRE', done, ttl)
  if redis.call('SCARD', done) < ndeps then return {0} end
  local current = redis.call('GET', claim)
  if current and current ~= owner then return {0} end
  if not current then redis.call('SET', claim, owner, 'PX', ttl) end
  return claim_inputs(done, skip)
end

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
    local nskip = tonumber(ARGV[a + 4])
    local skip = {[ARGV[a + 1]] = true}
    for i = 1, nskip do skip[ARGV[a + 4 + i]] = true end
    replies[#replies + 1] = mark(KEYS[k], KEYS[k + 1], ARGV[a + 1], tonumber(ARGV[a + 2]),
                                 ARGV[a + 3] == '1', skip)
    k, a = k + 2, a + 5 + nskip
  else
    return redis.error_reply('unknown step operation ' .. tostring(op))
  end
end
return replies
