-- Take unstarted tasks off a job's work queue, for one executor that has nothing ready.
--
-- KEYS[1] = the job's live flag; KEYS[2] = the job's work queue ('<prefix>ready', a list of
-- task indices, the plan's in depth-first order); KEYS[3] = the pulled tasks ('<prefix>pulled',
-- a hash: task -> the delivery that pulled it); KEYS[4] = how many tasks pulls took off the
-- queue's tail ('<prefix>tail').
-- ARGV[1] = most tasks to take; ARGV[2] = how many executors the plan started to pull;
-- ARGV[3] = the pulling delivery (owner, see `protocol.delivery`); ARGV[4] = its lease in ms;
-- ARGV[5] = the job's TTL in ms; ARGV[6] = '1' to take over dead deliveries' tasks first;
-- ARGV[7] = the queue's end in the leaves' order (`QueuePlan.end`; 0: no alignment);
-- ARGV[8] = '1' to take from the queue's tail (the tasks come back in the queue's order).
-- Takes at most the caller's fair share of what is left (the queue's length over ARGV[2],
-- rounded up), so no executor takes work the others could start now; of n tasks, only up
-- to a multiple of the largest power of two <= n in the leaves' order (at least one): from
-- the head, the run taken ends at such a multiple; from the tail, it starts at one.
-- Every task taken is recorded under the caller in KEYS[3], and the caller's lease '<prefix>l:<owner>' is set
-- here (PX ARGV[4]; the delivery refreshes it, and gives it the job's TTL once it ended).
-- Take-over (ARGV[6]): the tasks recorded under a delivery that died (its lease is gone: a
-- retry ends the lease of the delivery it replaces before it pulls) go back to the head of
-- the queue first, in one step with the pull: so a task pulled by a delivery that died is
-- queued again, and taken once more, by the retry.
-- Returns -1 if the job is gone, else the tasks taken (empty: the queue is drained). Only
-- a take-over grows the queue, and only the retry of a dead delivery (which pulls until the
-- queue is empty) asks for one: an empty reply is final for everyone else.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local owner, lease_ms, ttl = ARGV[3], ARGV[4], ARGV[5]
local prefix = string.sub(KEYS[1], 1, -5)
if ARGV[6] == '1' then
  local entries = redis.call('HGETALL', KEYS[3])
  local back = {}
  for i = 1, #entries, 2 do
    local holder = entries[i + 1]
    if holder ~= owner and redis.call('EXISTS', prefix .. 'l:' .. holder) == 0 then
      back[#back + 1] = entries[i]
    end
  end
  for start = 1, #back, 1000 do
    local stop = math.min(#back, start + 999)
    redis.call('HDEL', KEYS[3], unpack(back, start, stop))
    redis.call('LPUSH', KEYS[2], unpack(back, start, stop))
  end
  if #back > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
end
local left = redis.call('LLEN', KEYS[2])
if left == 0 then return {} end
local share = math.ceil(left / math.max(1, tonumber(ARGV[2])))
local take = math.max(1, math.min(tonumber(ARGV[1]), share))
local tail_end = tonumber(ARGV[7]) - tonumber(redis.call('GET', KEYS[4]) or '0')
local at = tail_end - left  -- the head's place in the leaves' order
if take > 1 and tonumber(ARGV[7]) > 0 and at >= 0 then
  local run = 1
  while run * 2 <= take do run = run * 2 end
  if ARGV[8] == '1' then
    take = tail_end - math.ceil((tail_end - take) / run) * run  -- >= 1, as run <= take
  else
    take = math.floor((at + take) / run) * run - at  -- >= 1, as run <= take
  end
end
local tasks
if ARGV[8] == '1' then
  tasks = redis.call('RPOP', KEYS[2], take)
  local n = #tasks
  for i = 1, math.floor(n / 2) do tasks[i], tasks[n + 1 - i] = tasks[n + 1 - i], tasks[i] end
  redis.call('INCRBY', KEYS[4], n)
  redis.call('PEXPIRE', KEYS[4], ttl)
else
  tasks = redis.call('LPOP', KEYS[2], take)
end
for _, task in ipairs(tasks) do redis.call('HSET', KEYS[3], task, owner) end
redis.call('PEXPIRE', KEYS[3], ttl)
local lease = prefix .. 'l:' .. owner
redis.call('SET', lease, '1', 'PX', lease_ms)
redis.call('SADD', prefix .. 'chunks', lease)
redis.call('PEXPIRE', prefix .. 'chunks', ttl)
return tasks
