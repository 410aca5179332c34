-- Take unstarted tasks off a job's work queue, for one executor that has nothing ready.
--
-- KEYS[1] = the job's live flag; KEYS[2] = the job's work queue ('<prefix>ready', a list of
-- task indices, the plan's in depth-first order).
-- ARGV[1] = most tasks to take; ARGV[2] = how many executors the plan started to pull.
-- Takes at most the caller's fair share of what is left (the queue's length over ARGV[2],
-- rounded up), so no executor takes work the others could start now.
-- Returns -1 if the job is gone, else the tasks taken (empty: the queue is drained). The
-- queue only shrinks once the job runs, so an empty reply is final.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local left = redis.call('LLEN', KEYS[2])
if left == 0 then return {} end
local share = math.ceil(left / math.max(1, tonumber(ARGV[2])))
return redis.call('LPOP', KEYS[2], math.max(1, math.min(tonumber(ARGV[1]), share)))
