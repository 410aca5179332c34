-- One executor step on one shard, in one call: small writes, stream appends and fan-in marks.
-- Every write is refused once the job's live flag is gone, so a straggler leaves nothing.
-- (Large values never pass through here: the caller SETs them on the same connection just
-- before this call, and unlinks them again if this call reports the job gone.)
--
-- KEYS[1] = the job's live flag ('<prefix>live'); further keys are consumed by the
-- operations in order.
-- ARGV[1] = ttl in ms; ARGV[2] = owner (the delivery: '<invocation id>.<attempt>.<nonce>',
-- see `protocol.delivery`); ARGV[3] = the largest value a claim returns (larger ones the
-- claimer reads itself); ARGV[4] = the lease in ms; then operations:
--   'set', value                      KEYS: the key                  -> nothing
--   'chunk'                           KEYS: a chunk (SET by the caller), the shard's chunk
--                                     index, which cleanup reads        -> nothing
--   'xadd', n, field, value, ...      KEYS: the stream (n = 2*pairs) -> nothing
--   'claim', from                     KEYS: the claim of a start task   -> 1 taken, 0 refused
--        (`from`: the delivery that claimed the task and hands it to this one, or '')
--   'once'                            KEYS: a task's start mark   -> 1 first start, 0 started before
--   'mark', nfirm, firm..., ntent, tentative..., ndeps, hold, nskip, skip...
--                                     KEYS: done set, claim, holders set
--        Firm parents (written outputs) are marked done. Tentative parents (outputs held,
--        unwritten, by the caller) are marked only if that completes the set: otherwise
--        nothing of them changes, so they can re-check later (claim-if-last).
--        -> {1, member, value, ...} claimed by owner, with the outputs of the set's members
--           that live on this shard, up to ARGV[3] bytes each, except the caller's parents
--           and `skip` (held already);
--           {2} not complete, and the tentative parents are now the fan-in's holders
--           (only with hold = 1, no firm parents, and no other parent holding);
--           {0} otherwise: not complete, hold refused, or claimed by another.
-- Marking is idempotent: a set of finished parents (never a bare INCR), so a duplicated or
-- retried invocation cannot double-count. A claim names its owner delivery, which holds a
-- lease '<prefix>l:<owner>' on every shard where it claimed (set here with PX the lease,
-- refreshed by the delivery, given the job's TTL once it ended: "done"). A claim held by
-- another delivery is refused while that one's lease lives, unless it hands the task over
-- (`from`); once the lease is gone, anyone may take it over. A retry ends the leases of
-- the delivery it replaces (which its platform knows dead), on every shard, before it
-- claims anything (see `claims.claim_starts`): what that one claimed, on the retry's path
-- or off it, is then taken by whoever reaches it.
-- At most one executor holds at a fan-in; every other parent writes and marks, so holders
-- never wait on each other (and every hold is bounded in time anyway).
-- Returns -1 if the job is gone, else the list of claim and mark replies in order.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local ttl, owner, reply_bytes, lease_ms = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local prefix = string.sub(KEYS[1], 1, -5)
local outputs = prefix .. 'o:'

local leased = false

-- Sets owner's lease on this shard (once per call: it lives `lease_ms` from now).
local function lease_once()
  if leased then return end
  leased = true
  local lease = prefix .. 'l:' .. owner
  redis.call('SET', lease, '1', 'PX', lease_ms)
  redis.call('SADD', prefix .. 'chunks', lease)
  redis.call('PEXPIRE', prefix .. 'chunks', ttl)
end

-- Takes `claim` for owner; false if refused.
local function take(claim, from)
  local current = redis.call('GET', claim)
  if current == owner then return true end
  if current and current ~= from and redis.call('EXISTS', prefix .. 'l:' .. current) == 1 then
    return false
  end
  redis.call('SET', claim, owner, 'PX', ttl)
  lease_once()
  return true
end

local function claim_inputs(done, skip)
  local reply = {1}
  for _, member in ipairs(redis.call('SMEMBERS', done)) do
    local key = outputs .. member
    if not skip[member] and redis.call('STRLEN', key) <= reply_bytes then
      local value = redis.call('GET', key)
      if value then
        reply[#reply + 1] = member
        reply[#reply + 1] = value
      end
    end
  end
  return reply
end

local function another_holds(done, holders, mine)
  for _, member in ipairs(redis.call('SMEMBERS', holders)) do
    if not mine[member] and redis.call('SISMEMBER', done, member) == 0 then return true end
  end
  return false
end

local function hold(done, holders, tentative)
  local mine = {}
  for _, p in ipairs(tentative) do mine[p] = true end
  if another_holds(done, holders, mine) then return {0} end
  redis.call('SADD', holders, unpack(tentative))
  redis.call('PEXPIRE', holders, ttl)
  return {2}
end

local function mark(keys, firm, tentative, ndeps, may_hold, skip)
  local done, claim, holders = keys[1], keys[2], keys[3]
  if #firm > 0 then
    redis.call('SADD', done, unpack(firm))
    redis.call('PEXPIRE', done, ttl)
  end
  local unmarked = 0
  for _, p in ipairs(tentative) do
    if redis.call('SISMEMBER', done, p) == 0 then unmarked = unmarked + 1 end
  end
  if redis.call('SCARD', done) + unmarked < ndeps then
    if may_hold and #firm == 0 and #tentative > 0 then return hold(done, holders, tentative) end
    return {0}
  end
  if #tentative > 0 then
    redis.call('SADD', done, unpack(tentative))
    redis.call('PEXPIRE', done, ttl)
  end
  if not take(claim, '') then return {0} end
  return claim_inputs(done, skip)
end

local function list_at(a)
  local n = tonumber(ARGV[a])
  local items = {}
  for i = 1, n do items[i] = ARGV[a + i] end
  return items, a + n + 1
end

local k, a = 2, 5
local replies = {}
while a <= #ARGV do
  local op = ARGV[a]
  if op == 'set' then
    redis.call('SET', KEYS[k], ARGV[a + 1], 'PX', ttl)
    k, a = k + 1, a + 2
  elseif op == 'chunk' then
    redis.call('SADD', KEYS[k + 1], KEYS[k])
    redis.call('PEXPIRE', KEYS[k + 1], ttl)
    k, a = k + 2, a + 1
  elseif op == 'xadd' then
    local n = tonumber(ARGV[a + 1])
    redis.call('XADD', KEYS[k], '*', unpack(ARGV, a + 2, a + 1 + n))
    redis.call('PEXPIRE', KEYS[k], ttl)
    k, a = k + 1, a + 2 + n
  elseif op == 'claim' then
    replies[#replies + 1] = take(KEYS[k], ARGV[a + 1]) and 1 or 0
    k, a = k + 1, a + 2
  elseif op == 'once' then
    replies[#replies + 1] = redis.call('SET', KEYS[k], owner, 'NX', 'PX', ttl) and 1 or 0
    k, a = k + 1, a + 1
  elseif op == 'mark' then
    local firm, tentative, skip_list, ndeps, may_hold
    firm, a = list_at(a + 1)
    tentative, a = list_at(a)
    ndeps, may_hold = tonumber(ARGV[a]), ARGV[a + 1] == '1'
    skip_list, a = list_at(a + 2)
    local skip = {}
    for _, p in ipairs(firm) do skip[p] = true end
    for _, p in ipairs(tentative) do skip[p] = true end
    for _, p in ipairs(skip_list) do skip[p] = true end
    replies[#replies + 1] = mark({KEYS[k], KEYS[k + 1], KEYS[k + 2]}, firm, tentative, ndeps,
                                 may_hold, skip)
    k = k + 3
  else
    return redis.error_reply('unknown step operation ' .. tostring(op))
  end
end
return replies
